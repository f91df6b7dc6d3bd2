"""training.method = "auto" (issue 33, line 4): it trains every candidate, picks the one
clearly best on dev, and exports nothing when none beats the base model; the budget skips what
no longer fits."""

import numpy as np
import pytest

from bmembed_lab import auto, methods, selection
from bmembed_lab.cli import main
from bmembed_lab.stages import train as train_stage

from .conftest import tiny_config_file


def constructed(monkeypatch, deltas: dict[str, float], corpus: dict[str, float] | None = None):
    """dev_score returns, per dev query, the base model's score at step 0 and base + the
    method's delta (+ noise) at its last step: candidates train in AUTO_CANDIDATES order, two
    dev evaluations each. Ranking the whole corpus, a method gains ``corpus`` (default: the
    same deltas) with an interval of +-1."""
    corpus = corpus or deltas
    monkeypatch.setattr(auto, "corpus_gain", lambda pipe, m: {
        "diff": corpus[m], "low": corpus[m] - 1, "high": corpus[m] + 1, "queries": 5})
    rng = np.random.default_rng(0)
    calls = []

    def score(enc, pool, texts, **kw):
        base = np.random.default_rng(1).uniform(20, 60, len(pool))
        method = methods.AUTO_CANDIDATES[len(calls) // 2]
        first = len(calls) % 2 == 0
        calls.append(method)
        return base if first else base + deltas[method] + rng.normal(0, 0.1, len(pool))

    monkeypatch.setattr(selection, "dev_score", score)
    monkeypatch.setattr(train_stage, "starts_as_base", lambda cfg: False)  # step 0 scored too
    return calls


def config(tmp_path, beir_dir, tiny_model_dir, **kw):
    return tiny_config_file(tmp_path, beir_dir, tiny_model_dir, eval__dev_fraction=0.5,
                            eval__seed=3, sampling__m=3, training__steps=2,
                            training__warmup_steps=1, training__eval_every=2,
                            training__patience=0, training__method="auto", **kw)


def test_auto_exports_the_constructed_best(tmp_path, beir_dir, tiny_model_dir, monkeypatch,
                                           capsys):
    calls = constructed(monkeypatch, {"bmembed": 2.0, "cl": 6.0, "mnrl": -3.0})
    assert main(["train", "--config", str(config(tmp_path, beir_dir, tiny_model_dir))]) == 0
    out = capsys.readouterr().out
    assert calls == [m for m in methods.AUTO_CANDIDATES for _ in range(2)]
    assert "-> cl wins" in out and "clearly above bmembed, mnrl" in out
    assert "export: " in out and "export: none" not in out
    # the export: the winner's weights (linked, not copied) with the decision in its card
    entry = next((tmp_path / "cache" / "auto").iterdir())
    card = (entry / "merged" / "README.md").read_text()
    assert card.startswith("---\n") and "## Chosen by `training.method = auto`" in card
    assert "-> cl wins" in card and str(entry / "merged") in out
    winner = next(p for p in (tmp_path / "cache" / "model").iterdir()
                  if '"method": "cl"' in (p / "train.json").read_text())
    assert (entry / "merged" / "model.safetensors").read_bytes() == \
        (winner / "merged" / "model.safetensors").read_bytes()
    # evaluate says what auto chose among the runs trained so far, training nothing
    monkeypatch.setattr(selection, "dev_score", None)
    assert main(["evaluate", "--config", str(config(tmp_path, beir_dir, tiny_model_dir)),
                 "--systems", "bm25", "base"]) == 0
    assert "-> cl wins" in capsys.readouterr().out


def test_auto_exports_nothing_when_every_candidate_is_worse(tmp_path, beir_dir, tiny_model_dir,
                                                            monkeypatch, capsys):
    constructed(monkeypatch, {"bmembed": -2.0, "cl": -1.0, "mnrl": -0.5})
    assert main(["train", "--config", str(config(tmp_path, beir_dir, tiny_model_dir))]) == 0
    out = capsys.readouterr().out
    assert "the base model is the answer" in out and "export: none" in out
    entry = next((tmp_path / "cache" / "auto").iterdir())  # the decision, kept; no model
    assert not (entry / "merged").exists()
    assert "the base model is the answer" in (entry / "README.md").read_text()


def test_a_pool_gain_that_the_whole_corpus_does_not_confirm_exports_nothing(
        tmp_path, beir_dir, tiny_model_dir, monkeypatch, capsys):
    # the dev pool says cl and bmembed beat base; ranking the whole corpus neither does clearly
    constructed(monkeypatch, {"bmembed": 2.0, "cl": 6.0, "mnrl": -3.0},
                {"bmembed": 0.5, "cl": -1.0, "mnrl": -3.0})
    assert main(["train", "--config", str(config(tmp_path, beir_dir, tiny_model_dir))]) == 0
    out = capsys.readouterr().out
    assert "bmembed, cl did on the dev pool, not ranking the whole corpus" in out
    assert "ranking the whole corpus -1.00 [-2.00, +0.00]" in out and "export: none" in out


def test_the_real_whole_corpus_score_is_paired_against_base(tmp_path, beir_dir,
                                                            tiny_model_dir):
    # corpus_gain itself on a tiny trained run: the dev questions, both systems, points
    from bmembed_lab.config import load_config
    from bmembed_lab.pipeline import Pipeline

    pipe = Pipeline(load_config(config(tmp_path, beir_dir, tiny_model_dir)))
    pipe.trained("bmembed", progress=False)
    g = auto.corpus_gain(pipe, "bmembed")
    dev = pipe.evaluate(["base", "bmembed"], "dev")["per_query"]
    means = dev.groupby("system")["MAP@10"].mean()
    assert g["queries"] == dev.query_id.nunique() > 0
    assert g["diff"] == pytest.approx(100 * (means["bmembed"] - means["base"]))
    assert g["low"] <= g["diff"] <= g["high"]


def test_choose_prefers_clearly_better_over_higher_but_unclear():
    base = list(np.linspace(20, 60, 40))
    sure = auto.Candidate("bmembed", 42.0, 40.0, {"diff": 2.0, "low": 1.0, "high": 3.0},
                          10, 1.0, [b + 2 for b in base])
    unsure = auto.Candidate("mnrl", 45.0, 40.0, {"diff": 5.0, "low": -1.0, "high": 11.0},
                            10, 1.0, [b + 5 for b in base])
    skipped = auto.Candidate("cl", skipped="estimated 9.0 min, 1.0 min of the budget left")
    d = auto.choose([sure, unsure, skipped], "MAP@10")
    assert d.winner == "bmembed" and "mnrl scored higher on dev but not clearly above base" \
        in d.reason
    assert d.against_winner["mnrl"]["diff"] == pytest.approx(-3.0)
    text = "\n".join(d.lines())
    assert "cl: not run (estimated 9.0 min" in text
    assert auto.choose([unsure, skipped]).winner is None


def test_the_budget_skips_a_candidate_that_no_longer_fits(tmp_path, beir_dir, tiny_model_dir,
                                                         monkeypatch, capsys):
    constructed(monkeypatch, {"bmembed": 2.0, "cl": 6.0, "mnrl": -3.0})
    monkeypatch.setattr(auto, "estimate_seconds", lambda pipe, m: 600.0)  # 10 min each
    assert main(["train", "--config", str(config(tmp_path, beir_dir, tiny_model_dir,
                                                 training__budget_minutes=5))]) == 0
    out = capsys.readouterr().out
    assert out.count("not run (estimated 10.0 min") == len(methods.AUTO_CANDIDATES)
    assert "no candidate ran" in out and "export: none" in out
