"""The house keeps its shape: each rule is a function over a source tree that returns what
breaks it, checked on the repository, and shown to catch one planted violation per rule.

Rules: no module of the package over 400 lines; every cached stage in ``stages.CHAIN``; no
cache folder name spelled outside ``cache.py``; no trained method named outside
``methods.py``; every module named in ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from bmembed_lab import cache, methods, stages

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 400
# calls whose positional string arguments are cache folder names
PATH_CALLS = {"sub_store", "clear", "invalidate", "lookup", "has", "store", "cached", "make_key",
              "joinpath", "Path"}


def _sources(root: Path, notebooks: bool = True) -> list[Path]:
    files = sorted((root / "bmembed_lab").rglob("*.py"))
    return files + (sorted((root / "notebooks").glob("*.py")) if notebooks else [])


def _strings(tree: ast.AST):
    """(string constant node, its parent) pairs of a syntax tree."""
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            if isinstance(child, ast.Constant) and isinstance(child.value, str):
                yield child, parent


def long_modules(root: Path) -> list[str]:
    return [f"{p.relative_to(root)}: {n} lines" for p in _sources(root, notebooks=False)
            if (n := len(p.read_text().splitlines())) > MAX_LINES]


def stages_missing_from_chain(folders=cache.STAGE_FOLDERS, chain=stages.CHAIN) -> list[str]:
    return sorted(set(folders) - {s.name for s in chain})


def cache_names_outside_cache(root: Path) -> list[str]:
    names = set(cache.STAGE_FOLDERS) | set(cache.SUB_STORES)
    out = []
    for p in _sources(root):
        if p == root / "bmembed_lab" / "cache.py":
            continue
        for node, parent in _strings(ast.parse(p.read_text())):
            if node.value not in names:
                continue
            in_path = isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div)
            if isinstance(parent, ast.Call) and node in parent.args:
                f = parent.func
                in_path = in_path or getattr(f, "attr", getattr(f, "id", None)) in PATH_CALLS
            if in_path:
                out.append(f"{p.relative_to(root)}:{node.lineno}: {node.value!r}")
    return out


def methods_named_outside_table(root: Path) -> list[str]:
    return [f"{p.relative_to(root)}:{node.lineno}: {node.value!r}" for p in _sources(root)
            if p != root / "bmembed_lab" / "methods.py"
            for node, _ in _strings(ast.parse(p.read_text())) if node.value in methods.METHODS]


def modules_missing_from_architecture(root: Path) -> list[str]:
    doc = (root / "docs" / "architecture.md").read_text()
    out = []
    for p in _sources(root, notebooks=False):
        rel = p.relative_to(root / "bmembed_lab").as_posix()
        if rel == "__init__.py":
            continue
        name = rel[:-len("__init__.py")] if rel.endswith("/__init__.py") else rel
        if f"`{name}`" not in doc:
            out.append(rel)
    return out


# -- the repository keeps every rule ------------------------------------------------------------
def test_no_module_over_400_lines():
    assert long_modules(REPO) == []


def test_ruff_passes_at_100_columns(tmp_path):
    """The project's lint rules, line length at 100 columns included (pyproject.toml), hold
    everywhere: package, tests, bench, notebooks, scripts."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(REPO)],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout[-3000:]
    bad = tmp_path / "probe.py"  # the rule bites: one line of 101 columns fails
    bad.write_text("X = " + repr("x" * 95) + "\n")
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                        str(REPO / "pyproject.toml"), str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and "E501" in r.stdout, r.stdout


def test_every_cached_stage_is_in_the_chain():
    assert stages_missing_from_chain() == []


def test_cache_folder_names_are_spelled_in_cache_py_alone():
    assert cache_names_outside_cache(REPO) == []


def test_trained_methods_are_named_in_the_methods_table_alone():
    assert methods_named_outside_table(REPO) == []


def test_docs_architecture_names_every_module():
    assert modules_missing_from_architecture(REPO) == []


# -- and each rule catches a planted violation -------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"bmembed_lab/cache.py": "X = 1\n", "bmembed_lab/methods.py": "",
                      "docs/architecture.md": "`cache.py` `methods.py`\n", **files}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_each_rule_catches_a_violation(tmp_path):
    root = _tree(
        tmp_path,
        {
            "bmembed_lab/big.py": "x = 1\n" * (MAX_LINES + 1),
            "bmembed_lab/stages/new.py": 'def f(c):\n    return c.root / "model", '
                                         'c.sub_store("llm_calls")\n',
            "notebooks/03.py": f'method = {methods.DEFAULT!r}\nlabel = {{"model": 1}}\n',
        },
    )
    assert long_modules(root) == [f"bmembed_lab/big.py: {MAX_LINES + 1} lines"]
    assert cache_names_outside_cache(root) == ["bmembed_lab/stages/new.py:2: 'model'",
                                               "bmembed_lab/stages/new.py:2: 'llm_calls'"]
    assert methods_named_outside_table(root) == [f"notebooks/03.py:1: {methods.DEFAULT!r}"]
    assert modules_missing_from_architecture(root) == ["big.py", "stages/new.py"]
    assert stages_missing_from_chain(cache.STAGE_FOLDERS + ("new_stage",)) == ["new_stage"]


def test_an_opaque_step_keeps_ticking(capsys):
    """A step that cannot count its work still writes its elapsed time every tick."""
    import time

    from bmembed_lab.ticker import ticking

    with ticking("opaque step", every=0.05):
        time.sleep(0.4)
    assert capsys.readouterr().err.count("opaque step: ") >= 4
