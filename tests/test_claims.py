"""bench/claims.py: each cell's verdict follows from the per-question scores it is given (a
system better on every question is supported, worse contradicted, a coin toss inconclusive),
seeds that disagree are said, a missing measurement reads "not run", and the markdown table
keeps one cell per column."""
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_claims():
    spec = importlib.util.spec_from_file_location("claims", ROOT / "bench" / "claims.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["claims"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def record(seed: int, bmembed: list[float], rng) -> dict:
    n = len(bmembed)
    ids = [f"q{i}" for i in range(n)]
    base = rng.uniform(0.3, 0.6, n)
    scores = {"base": base, "bm25": base - 0.2, "bmembed": base + np.asarray(bmembed),
              "rrf": base, "rrf+bmembed": base}
    questions = {s: {q: [float(v), float(v > 0.4)] for q, v in zip(ids, vals)}
                 for s, vals in scores.items()}
    hits = {s: {"original": {q: [1.0] for q in ids}, "masked": {q: [0.0] for q in ids},
                "substituted": {q: [0.0 if s == "bm25" else 1.0] for q in ids}}
            for s in ("bm25", "base", "bmembed")}
    geometry = {"base": {"uniformity_abs": 3.0, "alignment_norm": 1.2},
                "bmembed": {"uniformity_abs": 2.0, "alignment_norm": 1.19}}
    return {"corpus": "demo", "variant": "default", "seed": seed, "rung": "200 steps x 1 list(s)",
            "questions": questions, "keyword": {}, "perturbation": hits, "geometry": geometry,
            "training": {"bmembed": {"steps": 200, "batch": 1, "seconds": 300.0}}}


def test_verdicts_follow_the_per_question_scores():
    claims = load_claims()
    rng = np.random.default_rng(0)
    col = claims.COLUMNS[0]
    by = {c.text: c for c in claims.CLAIMS}
    better = [record(0, [0.05] * 200, rng)]
    assert "**supported**; 1 seed" in claims.cell(by["BMEmbed > base encoder"], col, better)
    assert "**contradicted**" in claims.cell(
        by["BMEmbed > base encoder"], col, [record(0, [-0.05] * 200, rng)])
    noise = [record(s, list(rng.choice([-0.05, 0.05], 200)), rng) for s in range(3)]
    text = claims.cell(by["BMEmbed > base encoder"], col, noise)
    assert "3 seeds" in text and "1 seed" not in text
    assert claims.cell(by["BMEmbed > CL"], col, better) == "not run"
    assert claims.cell(by["BMEmbed > base encoder"], claims.COLUMNS[2], better) == "not run"
    # BM25 alone loses every substituted hit: supported against both others
    assert claims.cell(by["synonym substitution hurts BM25 most (Hit@10)"], col,
                       better).startswith("**supported**")
    # every system loses every masked hit alike: no difference, inconclusive
    assert "**inconclusive**" in claims.cell(
        by["keyword masking hurts BMEmbed less than base (Hit@10)"], col, better)
    assert "**contradicted**" in claims.cell(
        by["BMEmbed raises uniformity at similar alignment (Section 5)"], col, better)
    table = claims.render(better)
    rows = [ln for ln in table.splitlines() if ln.startswith("| ") and " | demo" not in ln]
    assert len(rows) == len(claims.CLAIMS) + len(claims.AGAINST_BASE) + len(claims.UNTRIED) + 1
    assert "| BMEmbed > base encoder | +5.00" in table  # the same cell in both tables
    assert all(ln.count(" | ") == len(claims.COLUMNS) for ln in rows)  # no stray pipes
    assert "Summary: " in table


def test_an_untried_variant_is_measured_against_default_bmembed_mnrl_and_base():
    claims = load_claims()
    rng = np.random.default_rng(1)
    col = claims.COLUMNS[0]
    default = record(0, [0.0] * 200, rng)
    default["questions"]["mnrl"] = default["questions"]["bmembed"]
    variant = record(0, [0.05] * 200, rng) | {"variant": "anchor-1"}
    ids = list(default["questions"]["base"])
    # the variant's own record has its own base: the same questions, the same base scores
    variant["questions"]["base"] = default["questions"]["base"]
    variant["questions"]["bmembed"] = {q: [default["questions"]["base"][q][0] + 0.05, 1.0]
                                       for q in ids}
    text = claims.untried_cell("anchor-1", col, [default, variant])
    assert text.count("+5.00 [+5.00, +5.00] supported") == 3
    assert "rung 200 steps x 1 list(s)" in text and "1 seed" in text
    assert "1.50 s per step (default BMEmbed 1.50)" in text
    assert claims.untried_cell("bmembed+mnrl", col, [default, variant]) == "not run"
    del default["questions"]["mnrl"]
    assert "vs mnrl: not run" in claims.untried_cell("anchor-1", col, [default, variant])


def test_what_auto_exports_is_scored_against_base():
    # the winner's test scores where auto chose one, base's (a zero difference) where it chose
    # none, undetermined seeds named and left out
    claims = load_claims()
    rng = np.random.default_rng(1)
    col = claims.COLUMNS[0]
    runs = [record(0, [0.05] * 200, rng), record(1, [0.05] * 200, rng)]
    won = [{"corpus": "demo", "seed": 0, "winner": "bmembed", "determined": True},
           {"corpus": "demo", "seed": 1, "winner": None, "determined": False}]
    text = claims.auto_cell(col, runs, won)
    assert "**supported**; 1 seed" in text and "exports bmembed (seed 0)" in text
    assert "seed(s) 1 undetermined" in text
    none = [{"corpus": "demo", "seed": s, "winner": None, "determined": True} for s in (0, 1)]
    text = claims.auto_cell(col, runs, none)
    assert text.startswith("+0.00 [+0.00, +0.00] **inconclusive**; 2 seeds")
    assert "exports base (seed 0), base (seed 1)" in text
    assert claims.auto_cell(claims.COLUMNS[2], runs, won) == "not run"
    assert "clearly better than base on 1, clearly worse on 0" in claims.auto_summary(runs, won)
