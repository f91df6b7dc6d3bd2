"""A model folder's module stack, read as sentence-transformers reads it.

In: a model folder (a sentence-transformers folder with ``modules.json``, or a plain
transformers folder). Out: a :class:`Stack` read from its JSON files alone (so cache keys
never import torch) and, when the model loads, a :class:`Head`: the modules that turn the
transformer's token embeddings into one vector per text.

The head reuses sentence-transformers' own ``Pooling``, ``Dense`` and ``Normalize`` modules,
loaded from the folder as sentence-transformers loads them, so every pooling mode (cls, max,
mean, mean_sqrt_len_tokens, weightedmean, lasttoken, and their concatenations), in both the
old (``pooling_mode_*_tokens``) and the current (``pooling_mode``) config schema, computes
what ``SentenceTransformer.encode`` computes. The transformer pass stays ours
(:mod:`bmembed_lab.passes`: unpadded on the CPU, the same arithmetic). Query and document
prompts follow ``encode_query`` / ``encode_document``; the similarity function decides whether
embeddings are L2-normalised: ``cosine`` (the default) and a ``Normalize`` module normalise,
``dot`` without ``Normalize`` keeps the raw vectors, so a dense search's inner product ranks
as sentence-transformers' similarity does. A plain transformers folder is read as
sentence-transformers reads it (mean pooling; last-token for decoders here) and normalised.

Heads are frozen: training adapts the transformer (full or LoRA); pooling, Dense and
Normalize stay the base model's, so the export ships the same modules it evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
# sentence-transformers' pre-5 Pooling config keys, in its concatenation order
LEGACY_POOLING_KEYS = {"pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max",
                       "pooling_mode_mean_tokens": "mean",
                       "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                       "pooling_mode_weightedmean_tokens": "weightedmean",
                       "pooling_mode_lasttoken": "lasttoken"}
# encoder.pooling's short names for sentence-transformers' modes
POOLING_ALIASES = {"last": "lasttoken"}
SUPPORTED_MODULES = ("Transformer", "Pooling", "Dense", "Normalize")
SIMILARITIES = ("cosine", "dot", "euclidean", "manhattan")
DOCUMENT_PROMPTS = ("document", "passage", "corpus")  # encode_document's order
DECODER_TYPES = {"qwen2", "qwen3", "mistral", "llama", "gemma"}
PLAIN_HEAD = {"dense": [], "normalize": True, "similarity": "cosine", "lowercase": False}


@dataclass(frozen=True)
class Stack:
    """What a folder's modules do, read from JSON: where the transformers model lives, the
    pooling modes, the Dense folders in order, normalisation, prompts and similarity."""

    root: Path
    transformer: str = ""  # the transformers model's folder, relative to root
    pooling: tuple[str, ...] = ("mean",)
    dense: tuple[str, ...] = ()
    normalize: bool = True
    similarity: str = "cosine"
    prompts: dict = field(default_factory=dict)
    lowercase: bool = False

    @property
    def model_dir(self) -> Path:
        return self.root / self.transformer

    @property
    def query_prompt(self) -> str:
        """``SentenceTransformer.encode_query``'s prompt: the ``query`` prompt, else none."""
        return self.prompts.get("query") or ""

    @property
    def document_prompt(self) -> str:
        """``encode_document``'s prompt: the first of document / passage / corpus it declares
        (sentence-transformers >= 6 always has a ``document`` key, empty unless saved)."""
        for name in DOCUMENT_PROMPTS:
            if name in self.prompts:
                return self.prompts[name] or ""
        return ""

    def describe(self) -> dict:
        """What of the head, beyond its pooling, determines the embeddings, where it differs
        from a plain normalised cosine model's (so such a model's keys read as before the head
        entered them)."""
        head = {"dense": list(self.dense), "normalize": self.normalize,
                "similarity": self.similarity, "lowercase": self.lowercase}
        return {k: v for k, v in head.items() if v != PLAIN_HEAD[k]}


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read {path.name} ({err})", str(path), "restore the file "
                         "(re-save the model with SentenceTransformer.save)") from None
    if not isinstance(value, (dict, list)):
        raise InputError(f"{path.name} is not a JSON object", str(path), "restore the file")
    return value


def pooling_modes(pool_cfg: dict) -> tuple[str, ...]:
    """The pooling modes of a Pooling config in either schema (the current ``pooling_mode``
    or the old booleans, which sentence-transformers reads as mean when none is set)."""
    mode = pool_cfg.get("pooling_mode")
    if mode is None:
        modes = tuple(m for k, m in LEGACY_POOLING_KEYS.items() if pool_cfg.get(k))
        return modes or ("mean",)
    modes = (mode,) if isinstance(mode, str) else tuple(mode)
    return modes


def _kind(entry: dict) -> str:
    kind = str(entry.get("type", ""))
    name = kind.rsplit(".", 1)[-1]
    if not kind.startswith("sentence_transformers.") or name not in SUPPORTED_MODULES:
        raise InputError(f"modules.json holds a module this workbench does not support: "
                         f"{kind!r}", "modules.json", "use a model whose modules are "
                         f"{', '.join(SUPPORTED_MODULES)} (sentence-transformers' own)")
    return name


def transformer_dir(root: Path) -> Path:
    """The folder of ``root``'s transformers model: its Transformer module's sub-folder in a
    sentence-transformers folder (``""`` in current ones, ``0_Transformer`` in old ones)."""
    root = Path(root)
    if (root / "modules.json").is_file():
        for entry in _json(root / "modules.json"):
            if isinstance(entry, dict) and str(entry.get("type", "")).endswith(".Transformer"):
                return root / str(entry.get("path", ""))
    return root


def is_decoder(model_dir: Path) -> bool:
    cfg = _json(model_dir / "config.json")
    return bool(cfg.get("is_decoder", False)) or cfg.get("model_type", "") in DECODER_TYPES or any(
        a.endswith("ForCausalLM") for a in (cfg.get("architectures") or []))


def read_stack(root: Path, pooling: str = "auto") -> Stack:
    """The module stack of the folder ``root``; ``pooling`` (encoder.pooling) overrides the
    folder's pooling modes unless it is ``auto``. A module or option the workbench cannot
    honour is an :class:`InputError` naming it."""
    root = Path(root)
    fields: dict = {"root": root, "normalize": False}
    st_cfg = _json(root / "config_sentence_transformers.json") \
        if (root / "config_sentence_transformers.json").is_file() else {}
    if (root / "modules.json").is_file():
        seen = []
        for entry in _json(root / "modules.json"):
            kind, sub = _kind(entry), str(entry.get("path", ""))
            seen.append(kind)
            if kind == "Transformer":
                fields["transformer"] = sub
            elif kind == "Pooling":
                pool = _json(root / sub / "config.json")
                if pool.get("include_prompt", True) is False:
                    raise InputError("its Pooling module excludes the prompt from pooling "
                                     "(include_prompt: false), which this workbench does not "
                                     "support", str(root / sub / "config.json"),
                                     "use a model that pools over the whole input")
                fields["pooling"] = pooling_modes(pool)
            elif kind == "Dense":
                dense = _json(root / sub / "config.json")
                if dense.get("module_input_name", "sentence_embedding") != "sentence_embedding" or \
                        dense.get("module_output_name") not in (None, "sentence_embedding"):
                    raise InputError("its Dense module works on token embeddings, which this "
                                     "workbench does not support", str(root / sub),
                                     "use a model whose Dense head follows the pooling")
                fields["dense"] = fields.get("dense", ()) + (sub,)
            else:
                fields["normalize"] = True
        if seen[:1] != ["Transformer"] or "Pooling" not in seen:
            raise InputError(f"modules.json lists {seen}: the workbench needs a Transformer first "
                             "and a Pooling module", str(root / "modules.json"),
                             "use a sentence-transformers text-embedding model")
        sbert = root / fields.get("transformer", "") / "sentence_bert_config.json"
        fields["lowercase"] = bool(_json(sbert).get("do_lower_case", False)) if sbert.is_file() \
            else False
    else:
        fields["pooling"] = ("lasttoken",) if is_decoder(root) else ("mean",)
    if pooling != "auto":
        fields["pooling"] = (POOLING_ALIASES.get(pooling, pooling),)
    for mode in fields.get("pooling", ()):
        if mode not in POOLING_MODES:
            raise InputError(f"unknown pooling mode {mode!r}", "encoder.pooling",
                             f"use one of {', '.join(POOLING_MODES)}")
    similarity = st_cfg.get("similarity_fn_name") or "cosine"
    if similarity not in SIMILARITIES:
        raise InputError(f"unknown similarity function {similarity!r}",
                         str(root / "config_sentence_transformers.json"),
                         f"use one of {', '.join(SIMILARITIES)}")
    if similarity == "manhattan" or (similarity == "euclidean" and not fields["normalize"]):
        raise InputError(f"the model scores with {similarity} distance, which a dense search by "
                         "inner product cannot rank the same way", "similarity_fn_name",
                         "use a cosine or dot model (euclidean is accepted with a Normalize "
                         "module, where it ranks as cosine does)")
    fields["similarity"] = similarity
    # cosine without a Normalize module: normalised here, so the inner product is the cosine
    fields["normalize"] = fields["normalize"] or similarity == "cosine"
    prompts = st_cfg.get("prompts") or {}
    fields["prompts"] = {str(k): str(v) for k, v in prompts.items()} \
        if isinstance(prompts, dict) else {}
    return Stack(**fields)


class Head:
    """The stack's modules after the transformer, as torch modules (sentence-transformers'
    own): pooling over padded or concatenated (unpadded) token embeddings, then each Dense
    layer, then normalisation. Frozen; computes in fp32."""

    def __init__(self, stack: Stack, hidden_size: int, device: str = "cpu"):
        from sentence_transformers.base.modules import Dense
        from sentence_transformers.sentence_transformer.modules import Pooling

        self.stack = stack
        mode = stack.pooling[0] if len(stack.pooling) == 1 else stack.pooling
        self.pooling = Pooling(hidden_size, pooling_mode=mode)
        self.dense = [Dense.load(str(stack.root / sub)).to(device).float().requires_grad_(False)
                      for sub in stack.dense]
        self.dim = self.dense[-1].out_features if self.dense else \
            self.pooling.get_embedding_dimension()

    def _finish(self, features: dict):
        import torch.nn.functional as F

        for layer in self.dense:
            features = layer(features)
        emb = features["sentence_embedding"]
        return F.normalize(emb, p=2, dim=-1) if self.stack.normalize else emb

    def padded(self, hidden, mask):
        """(batch, seq, dim) fp32 hidden states + (batch, seq) mask -> (batch, out dim)."""
        return self._finish(self.pooling({"token_embeddings": hidden, "attention_mask": mask}))

    def flat(self, hidden, lengths: list[int]):
        """(tokens, dim) fp32 hidden states of texts laid end to end, ``lengths`` tokens each
        -> (texts, out dim)."""
        import numpy as np
        import torch

        cu = torch.as_tensor(np.concatenate([[0], np.cumsum(lengths)]), device=hidden.device)
        return self._finish(self.pooling({"token_embeddings": hidden[None], "cu_seq_lens_q": cu}))
