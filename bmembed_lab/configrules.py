"""The rules a config must follow, apart from its options' types: allowed choices, numeric
ranges, presets, and where the cache may live. :mod:`bmembed_lab.config` applies them when a
config is loaded, before any work starts; ``bmembed-lab config --explain`` shows them.
"""

from __future__ import annotations

import math
from pathlib import Path

from .errors import InputError
from .methods import CHOICES as METHOD_CHOICES
from .tokenizers import NAMES as TOKENIZERS, check_language
from .modelstack import POOLING_MODES

CHOICES = {
    ("corpus", "format"): {"beir", "jsonl", "folder", "parquet", "datasets"},
    ("corpus", "encoding_errors"): {"strict", "replace"},
    ("corpus", "folder_titles"): {"none", "heading"},
    ("chunking", "titles"): {"every", "first", "none"},
    ("eval", "level"): {"auto", "chunk", "document"},
    ("relevance", "match"): {"auto", "text", "page", "doc"},
    ("bm25", "variant"): {"okapi", "bm25l", "bm25plus"},
    ("bm25", "tokenizer"): set(TOKENIZERS),
    ("encoder", "pooling"): {"auto", "last", *POOLING_MODES},
    ("encoder", "precision"): {"auto", "fp32", "bf16"},
    ("encoder", "device"): {"auto", "cpu", "cuda"},
    ("encoder", "protocol"): {"clean", "reference"},
    ("encoder", "storage"): {"float32", "float16"},
    ("llm", "response_format"): {"", "json_object", "json_schema"},
    ("queries", "backend"): {"offline", "llm", "file"},
    ("queries", "method"): {"keyphrase", "ict"},
    ("queries", "leakage"): {"drop", "flag"},
    ("sampling", "strategy"): {"fine-to-coarse", "uniform", "paper-illustration"},
    ("sampling", "convention"): {"m_items", "m_plus_one"},
    ("training", "preset"): {"", "minilm-setting1", "lora"},
    ("training", "method"): set(METHOD_CHOICES),
    ("training", "loss"): {"listnet", "listmle"},
    ("training", "teacher"): {"bm25", "hybrid"},
    ("training", "negatives_from"): {"bm25", "base"},
    ("training", "dev_metric"): {"Hit@1", "Hit@4", "Hit@10", "MAP@10", "nDCG@10", "MRR@10"},
    ("perturbation", "keywords"): {"offline", "llm"},
    ("perturbation", "substitution"): {"wordnet", "llm", "none"},
}
# (low, high) inclusive bounds of numeric options; None = unbounded on that side
RANGES = {
    ("corpus", "max_queries"): (0, None),
    ("chunking", "chunk_tokens"): (8, None),
    ("chunking", "overlap_tokens"): (0, None),
    ("bm25", "k1"): (0.0, None),
    ("bm25", "b"): (0.0, 1.0),
    ("bm25", "epsilon"): (0.0, None),
    ("bm25", "delta"): (0.0, None),
    ("encoder", "max_length"): (0, None),
    ("encoder", "batch_size"): (1, None),
    ("encoder", "shard_texts"): (1, None),
    ("queries", "events_per_doc"): (0, None),
    ("queries", "max_events_per_doc"): (1, None),
    ("queries", "queries_per_event"): (1, None),
    ("queries", "passage_sentences"): (1, None),
    ("queries", "min_words"): (0, None),
    ("queries", "max_words"): (1, None),
    ("queries", "max_copy_ratio"): (0.0, 1.0),
    ("queries", "leakage_threshold"): (0.0, 1.0),
    ("llm", "temperature"): (0.0, 2.0),
    ("llm", "max_output_tokens"): (1, None),
    ("llm", "concurrency"): (1, 256),
    ("llm", "max_retries"): (0, 100),
    ("llm", "backoff"): (0.0, 600.0),
    ("llm", "timeout"): (0.1, None),
    ("llm", "segment_tokens"): (16, None),
    ("sampling", "k"): (1, None),
    ("sampling", "m"): (2, None),
    ("sampling", "ratio"): (1.0, None),
    ("sampling", "first"): (1, None),
    ("sampling", "lists_per_query"): (1, None),
    ("training", "alpha"): (1e-6, None),
    ("training", "tau"): (1e-6, None),
    ("training", "anchor"): (0.0, None),
    ("training", "contrastive"): (0.0, None),
    ("training", "budget_minutes"): (0.0, None),
    ("training", "lora_r"): (1, None),
    ("training", "lora_alpha"): (1, None),
    ("training", "lora_dropout"): (0.0, 0.99),
    ("training", "lr"): (1e-12, 1.0),
    ("training", "weight_decay"): (0.0, None),
    ("training", "warmup_steps"): (0, None),
    ("training", "steps"): (1, None),
    ("training", "batch_size"): (1, None),
    ("training", "grad_accum"): (1, None),
    ("training", "max_length"): (8, None),
    ("training", "bucket_tokens"): (0, None),
    ("training", "attention_dropout"): (-1.0, 0.99),
    ("training", "checkpoint_every"): (0, None),
    ("training", "keep_checkpoints"): (1, None),
    ("training", "hard_negatives"): (0, None),
    ("training", "negative_depth"): (1, None),
    ("training", "negative_margin"): (0.0, None),
    ("training", "eval_every"): (0, None),
    ("training", "patience"): (0, None),
    ("training", "dev_queries"): (1, None),
    ("training", "dev_pool"): (0, None),
    ("eval", "depth"): (10, None),
    ("eval", "rrf_u"): (0, None),
    ("eval", "bootstrap"): (100, None),
    ("eval", "dev_fraction"): (0.0, 0.9),
    ("eval", "heldout_queries"): (0, None),
    ("perturbation", "max_keywords"): (1, None),
    ("perturbation", "max_df"): (0.0, 1.0),
    ("perturbation", "min_chars"): (1, None),
    ("perturbation", "max_senses"): (1, None),
    ("perturbation", "min_similarity"): (-1.0, 1.0),
}
# list options whose items must be whole numbers of at least the given value
INT_LISTS = {("eval", "ks"): 1, ("training", "matryoshka_dims"): 1}
PRESETS = {
    "minilm-setting1": {"lora": False, "lr": 2e-5, "steps": 500, "warmup_steps": 50},
    "lora": {"lora": True, "lr": 1e-5, "warmup_steps": 100, "steps": 1000},
}


def range_text(low, high) -> str:
    return f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"


# Every whole number an option holds reaches numpy, torch or a C loop as a 32-bit integer at
# worst: a larger one (a typo, 1e12 steps) would overflow or allocate without end there.
INT_LIMIT = 2**31 - 1


def check_range(section: str, key: str, value, where: str, help_text: str) -> None:
    """A value out of its range (or a list item that is not a whole number in range) is an
    :class:`InputError` naming the option, the range and the option's meaning. No whole number
    may pass :data:`INT_LIMIT`."""
    if (section, key) in INT_LISTS:
        low = INT_LISTS[(section, key)]
        bad = [v for v in value if isinstance(v, bool) or not isinstance(v, int) or v < low
               or v > INT_LIMIT]
        if bad:
            raise InputError(
                f"{section}.{key} = {value!r}: {bad[0]!r} is not a whole number >= {low}",
                where,
                help_text,
            )
        return
    if isinstance(value, float) and not math.isfinite(value):  # TOML reads nan and inf
        bounds = RANGES.get((section, key))
        raise InputError(f"{section}.{key} = {value!r} is not a finite number", where,
                         f"use a number{' in ' + range_text(*bounds) if bounds else ''}; "
                         f"{help_text}")
    low, high = RANGES.get((section, key), (None, None))
    if isinstance(value, int) and not isinstance(value, bool):
        low = -INT_LIMIT if low is None else low
        high = INT_LIMIT if high is None else min(high, INT_LIMIT)
    if (low is not None and value < low) or (high is not None and value > high):
        raise InputError(f"{section}.{key} = {value!r} is out of range", where,
                         f"use a value in {range_text(low, high)}; {help_text}")


def check_config(cfg, where: str) -> None:
    """The rules across options, checked once the whole config is read."""
    check_cache_dir(cfg, where)
    check_cutoffs(cfg, where)
    check_base_url(cfg.llm.base_url, where)
    check_language(cfg.bm25.language, cfg.bm25.stem, cfg.bm25.stopwords)
    if not cfg.training.dev_pool and not cfg.training.dev_relevant:
        raise InputError("training.dev_pool = 0 with dev_relevant = false leaves the dev "
                         "questions nothing to rank", where,
                         "set dev_pool >= 1 or dev_relevant = true (or eval_every = 0: no "
                         "selection)")


CREDENTIAL_PARAMS = {"key", "api_key", "apikey", "api-key", "token", "access_token", "secret",
                     "password", "sig", "signature", "code"}


def check_base_url(url: str, where: str) -> None:
    """A key written into llm.base_url (user:password@, or ?key=...) was printed and stored with
    the cached replies: refused, with the secret blanked in the message."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    secret = [k for k, _ in parse_qsl(parts.query) if k.lower() in CREDENTIAL_PARAMS]
    if parts.username or parts.password or secret:
        shown = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""),
                               query="...")
        raise InputError(f"llm.base_url holds a credential ({shown.geturl()})", where,
                         "remove it from the URL and put the key in the environment variable "
                         "named by llm.api_key_env: keys are never written anywhere")


def check_cutoffs(cfg, where: str) -> None:
    """Cut-offs beyond the ranking depth have no ranks to score (they vanished from tables)."""
    beyond = [k for k in cfg.eval.ks if k > cfg.eval.depth]
    if beyond:
        raise InputError(
            f"eval.ks = {cfg.eval.ks}: {beyond} beyond eval.depth = {cfg.eval.depth}",
            where,
            f"raise eval.depth to {max(beyond)} or more, or drop those cut-offs",
        )


def check_cache_dir(cfg, where: str) -> None:
    """The cache folder may not be empty, a filesystem root, the home folder, the config's own
    folder (or a folder above it), the working folder (or above it) or the corpus folder (or
    above it): ``cache clear`` would otherwise have a user folder as its target."""
    raw = cfg.cache.dir.strip()
    fix = 'use a folder of its own, e.g. [cache] dir = ".bmembed_cache"'
    if not raw:
        raise InputError("cache.dir is empty", where, fix)
    d = cfg.resolve(raw).resolve()
    guarded = {Path(d.anchor), Path.home().resolve()}
    for p in (
        Path(cfg.base_dir).resolve(),
        Path.cwd().resolve(),
        cfg.resolve(cfg.corpus.path).resolve(),
    ):
        guarded.add(p)
        if d in p.parents:
            raise InputError(f"cache.dir = {raw!r} is {d}, a folder that holds {p}", where, fix)
    if d in guarded:
        raise InputError(
            f"cache.dir = {raw!r} is {d}, which is not a folder of its own", where, fix
        )
