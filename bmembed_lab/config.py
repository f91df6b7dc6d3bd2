"""One TOML config for the whole workbench; defaults are the paper's (docs/method.md).

:class:`Config` holds one section per stage; each section is a dataclass of :mod:`.options` whose
fields carry a ``help`` text: the CLI prints them (``bmembed-lab config --explain``) and
validation errors quote them. A config file only needs the values it changes;
``--set section.key=value`` overrides on the command line; :func:`load_config` reads both, coerces
each value to its option's type and checks it (:mod:`.configrules`).
"""

from __future__ import annotations

import functools
import re

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from .configrules import CHOICES, PRESETS, RANGES, check_config, check_range, range_text
from .errors import InputError
from .options import (
    BM25Config,
    CacheConfig,
    ChunkingConfig,
    CorpusConfig,
    EncoderConfig,
    EvalConfig,
    LLMConfig,
    PerturbationConfig,
    QueriesConfig,
    RelevanceConfig,
    SamplingConfig,
    TrainingConfig,
)

__all__ = [
    "BM25Config",
    "CacheConfig",
    "ChunkingConfig",
    "Config",
    "CorpusConfig",
    "EncoderConfig",
    "EvalConfig",
    "LLMConfig",
    "PerturbationConfig",
    "QueriesConfig",
    "RelevanceConfig",
    "SamplingConfig",
    "TrainingConfig",
    "explain",
    "load_config",
]


@dataclass
class Config:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    relevance: RelevanceConfig = field(default_factory=RelevanceConfig)
    bm25: BM25Config = field(default_factory=BM25Config)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    queries: QueriesConfig = field(default_factory=QueriesConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    perturbation: PerturbationConfig = field(default_factory=PerturbationConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    base_dir: str = "."  # folder that relative paths are resolved against

    def resolve(self, p: str) -> Path:
        path = Path(p).expanduser()
        return path if path.is_absolute() else (Path(self.base_dir) / path)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("base_dir")
        return d


SECTIONS = {f.name: f.type for f in fields(Config) if f.name != "base_dir"}


def _section_class(name: str):
    return _hints(Config)[name]


@functools.cache  # the classes never change; evaluating their annotations is not free
def _hints(cls) -> dict:
    return get_type_hints(cls)


def _coerce(section: str, key: str, value: Any, where: str) -> Any:
    cls = _section_class(section)
    hints = _hints(cls)
    if key not in hints:
        raise InputError(f"unknown option {section}.{key}", where,
                         f"known options in [{section}]: {', '.join(hints)}")
    typ = hints[key]
    if isinstance(value, str) and where == "--set":  # a TOML value, or bare text for strings
        try:
            value = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            pass
    ok = (isinstance(value, typ) and not (typ is int and isinstance(value, bool))) or (
        typ is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise InputError(f"{section}.{key} = {value!r} should be of type {typ.__name__}", where,
                         _help(section, key))
    if (section, key) == ("encoder", "device") and re.fullmatch(r"cuda:\d+", str(value)):
        return value  # one GPU of several; check_device checks it exists
    if (section, key) in CHOICES and value not in CHOICES[(section, key)]:
        raise InputError(f"{section}.{key} = {value!r} is not one of "
                         f"{sorted(CHOICES[(section, key)])}", where, _help(section, key))
    check_range(section, key, value, where, _help(section, key))
    return float(value) if typ is float else value


def _help(section: str, key: str) -> str:
    for f in fields(_section_class(section)):
        if f.name == key:
            return f.metadata.get("help", "")
    return ""


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the TOML file (if any), then ``section.key=value`` overrides."""
    raw: dict = {}
    base = Path(".")
    where = "command line"
    if path is not None:
        path = Path(path)
        where = str(path)
        if not path.is_file():
            raise InputError("config file not found", where, "check the --config path")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a BOM is no error
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"not valid TOML ({err})", where, "fix the syntax") from None
        base = path.parent
    cfg = Config(base_dir=str(base))
    explicit: set[tuple[str, str]] = set()
    for section, values in raw.items():
        if section not in SECTIONS:
            raise InputError(f"unknown section [{section}]", where,
                             f"known sections: {', '.join(SECTIONS)}")
        if not isinstance(values, dict):
            raise InputError(f"'{section}' must be a table ([{section}])", where, "")
        for key, value in values.items():
            setattr(getattr(cfg, section), key, _coerce(section, key, value, where))
            explicit.add((section, key))
    for ov in overrides or []:
        if "=" not in ov or "." not in ov.split("=", 1)[0]:
            raise InputError(f"--set {ov!r}", "command line", "write --set section.key=value")
        dotted, value = ov.split("=", 1)
        section, key = dotted.strip().split(".", 1)
        if section not in SECTIONS:
            raise InputError(f"unknown section '{section}' in --set {ov!r}", "command line",
                             f"known sections: {', '.join(SECTIONS)}")
        setattr(getattr(cfg, section), key, _coerce(section, key, value.strip(), "--set"))
        explicit.add((section, key.strip()))
    for key, value in PRESETS.get(cfg.training.preset, {}).items():
        if ("training", key) not in explicit:
            setattr(cfg.training, key, value)
    check_config(cfg, where)
    return cfg



def explain() -> str:
    """Every option with its default and help text, TOML-style."""
    lines = []
    for name in SECTIONS:
        lines.append(f"[{name}]")
        for f in fields(_section_class(name)):
            default = (f.default_factory() if callable(f.default_factory)  # type: ignore[misc]
                       else f.default)
            bounds = RANGES.get((name, f.name))
            rng = f"  (range {range_text(*bounds)})" if bounds else ""
            lines.append(f"  {f.name} = {default!r}{rng}\n      {f.metadata.get('help', '')}")
        lines.append("")
    return "\n".join(lines)
