"""The lexical-sensitivity study (paper Section 6): keywords, masking, substitution (WordNet and
an LLM over real HTTP), the study table and its edge cases, on the tiny corpus."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bmembed_lab import perturbation as pt
from bmembed_lab.perturbation.llm import parse_keywords, parse_substitutions
from bmembed_lab.errors import InputError
from bmembed_lab.pipeline import Pipeline
from bmembed_lab.wordnet import WordNet, inflect_like, same_word

from .conftest import tiny_config, tiny_config_file
from .openai_server import FakeOpenAI

REAL_WORDNET = Path("/usr/share/wordnet")


def test_offline_keywords_shared_ranked_by_idf_capped():
    idf = {"kidney": 2.0, "stones": 3.0, "prevent": 1.0, "water": 4.0}
    gold = ["Drinking enough water helps prevent kidney stones."]
    q = "How to prevent KIDNEY stones, stones and more stones?"
    assert pt.offline_keywords(q, gold, idf) == [
        "stones",
        "kidney",
        "prevent",
    ]  # 'how', 'to': stopwords
    assert pt.offline_keywords(q, gold, idf, max_keywords=2) == ["stones", "kidney"]
    assert pt.offline_keywords(q, gold, idf, common=frozenset({"stones"})) == ["kidney", "prevent"]
    assert pt.offline_keywords("what is acromegaly", gold, idf) == []  # nothing shared
    idf2, common = pt.keyword_statistics(
        ["a kidney", "a stone", "a kidney stone", "water"], max_df=0.5
    )
    assert common == {"a"} and idf2["water"] > idf2["kidney"] > idf2["a"]


def test_masking_every_occurrence_case_punctuation_and_multiword():
    q = "Kidney stones? kidney-stones, KIDNEY and stones (kidneys)."
    masked, n = pt.mask_query(q, ["kidney", "kidney stones"])
    # the longer keyword wins where both match; 'kidneys' is another word, left alone
    assert masked == "[MASK]? [MASK], [MASK] and stones (kidneys)."
    assert n == 3
    assert pt.mask_query(q, ["stones"], "<m>") == (
        "Kidney <m>? kidney-<m>, KIDNEY and <m> (kidneys).",
        3,
    )
    assert pt.mask_query("no keyword here", []) == ("no keyword here", 0)
    assert pt.mask_query("C++ and c", ["c++"])[0] == "[MASK]++ and [MASK]"  # words only: 'c'
    out, n = pt.replace_keywords("Stones and stones", ["stones"], ["rocks"])
    assert out == "Rocks and rocks" and n == 2  # the first letter's case is kept
    assert pt.occurrences("a Blood Sugar test, blood  sugar", ["blood sugar"]) == [
        (2, 13, 0),
        (20, 32, 0),
    ]


def test_tiny_wordnet_synonyms_keep_part_of_speech_and_inflection(tiny_wordnet_dir):
    wn = WordNet.load(tiny_wordnet_dir)
    assert wn.synonym("stones") == ("rocks", "n")  # plural kept
    assert wn.synonym("doctors") == ("physicians", "n")
    assert wn.synonym("kidney") is None  # no synonym: skipped (and counted by the study)
    assert wn.synonym("prevent") == ("forestall", "v")
    assert wn.synonym("preventing") == ("forestalling", "v")
    assert wn.part_of_speech("causes") == ("v", "cause")  # more tagged uses as a verb
    assert wn.part_of_speech("causes", previous="the") == ("n", "cause")  # after a determiner
    assert wn.synonym("causes", previous="the") == ("reasons", "n")
    assert wn.synonym("zzz") is None
    assert (
        same_word("stone", "Stones")
        and same_word("gallstone", "stone")
        and not same_word("rock", "stone")
    )
    assert (
        inflect_like("shed blood", "bleeding", "bleed", "v") == "sheding blood"
    )  # first word of a verb phrase
    assert inflect_like("blood sugar", "glucoses", "glucose", "n") == "blood sugars"
    with pytest.raises(InputError, match="wordnet-base"):
        WordNet.load(tiny_wordnet_dir / "missing")


@pytest.mark.skipif(
    not (REAL_WORDNET / "index.noun").is_file(), reason="Debian wordnet-base not installed"
)
def test_real_wordnet_synonyms():
    wn = WordNet.load(REAL_WORDNET)
    assert wn.synonym("stones") == ("rocks", "n")
    assert wn.synonym("treated")[1] == "v" and wn.synonym("treated")[0].endswith("ed")
    assert wn.synonym("kidney") is None
    assert wn.synonym("hemochromatosis")[0] == "iron-storage disease"  # multi-word lemma


def test_names_are_left_in_place(tiny_wordnet_dir):
    """Acronyms and capitalised possessives are names: never given a dictionary synonym
    ("Graves' Disease" -> "Tombs' Disease"); a capital alone (MedQuAD writes "Acromegaly")
    is no name."""
    text = (
        "What causes Graves\u2019 Disease? Doctors say HIV and Parkinson's can. So does Acromegaly"
    )
    kws = ["graves", "disease", "doctors", "hiv", "parkinson", "acromegaly", "causes"]
    assert pt.name_keywords(text, kws) == ["graves", "hiv", "parkinson"]
    assert pt.name_keywords("what causes graves' disease", kws) == []  # no capital: no name
    wn = WordNet.load(tiny_wordnet_dir)
    subs = pt.wordnet_substitutions("Do DOCTORS use Ultrasound?", ["doctors", "ultrasound"], wn)
    assert "doctors" not in subs and subs["ultrasound"] == "sonography"
    assert pt.wordnet_substitutions("Do Doctors' notes help?", ["doctors"], wn) == {}
    assert pt.wordnet_substitutions("Do Doctors use it?", ["doctors"], wn) == {
        "doctors": "physicians"
    }


def test_build_set_counts_and_edge_cases(tiny_wordnet_dir):
    wn = WordNet.load(tiny_wordnet_dir)
    ids = ["a", "b", "c"]
    texts = ["Do doctors use ultrasound for gallstones? Doctors do.", "what is this", "kidney pain"]
    kws = [["doctors", "ultrasound", "gallstones"], [], ["kidney"]]
    subs = [pt.wordnet_substitutions(t, k, wn) for t, k in zip(texts, kws)]
    s = pt.build_set(ids, texts, kws, subs, "[MASK]")
    a, b, c = s.queries
    assert a.masked == "Do [MASK] use [MASK] for [MASK]? [MASK] do."
    assert a.substituted == "Do physicians use sonography for bilestones? Physicians do."
    assert b.masked is None and b.substituted is None
    assert c.masked == "[MASK] pain" and c.substituted is None and c.no_substitute == ["kidney"]
    assert s.counts["queries without a keyword (not masked)"] == 1
    assert s.counts["keyword occurrences masked"] == 5
    assert s.counts["keywords without a substitute (left in place)"] == 1
    assert s.counts["queries without any substitute (not substituted)"] == 1
    assert s.variant("masked") == (["a", "c"], [a.masked, c.masked])
    assert s.variant("substituted") == (["a"], [a.substituted])
    assert pt.PerturbationSet.from_json(json.loads(json.dumps(s.to_json()))).queries == s.queries
    none = pt.build_set(ids, texts, kws, None, "[MASK]")  # substitution = none
    assert none.counts["substituted queries"] == 0 and none.queries[2].no_substitute == []


def test_study_table_drops_and_intervals():
    rng = np.random.default_rng(0)
    rows = []
    for q in range(200):
        for system, p_orig, p_mask in (("bm25", 0.8, 0.1), ("base", 0.7, 0.6)):
            hit = rng.random()
            for variant, p in (("original", p_orig), ("masked", p_mask), ("substituted", p_orig)):
                if variant == "masked" and q % 10 == 0:
                    continue  # queries without keywords are not in the masked set
                h = float(hit < p)
                rows.append({"system": system, "variant": variant, "query_id": f"q{q}",
                             "Hit@1": h, "Hit@4": h, "Hit@10": h, "MAP@10": h / 2,
                             "gold_rank": 1 if h else np.nan})
    pq = pd.DataFrame(rows)
    st = pt.study_table(pq, n_boot=500)
    m = st[(st.system == "bm25") & (st.variant == "masked") & (st.metric == "Hit@10")].iloc[0]
    assert m.queries == 180
    o = pq[
        (pq.system == "bm25")
        & (pq.variant == "original")
        & ~pq.query_id.isin([f"q{i}" for i in range(0, 200, 10)])
    ]
    assert m.original == pytest.approx(100 * o["Hit@10"].mean())
    assert m.change == pytest.approx(m.perturbed - m.original)
    assert m.ci_low <= m.change <= m.ci_high < 0
    sub = st[(st.system == "base") & (st.variant == "substituted") & (st.metric == "Hit@10")].iloc[
        0
    ]
    assert sub.change == 0 and sub.ci_low == sub.ci_high == 0
    wide = pt.table5(st)
    assert list(wide.questions) == ["masked", "substituted"] * 2
    # each change sits next to the original on the same (here 180) questions
    assert wide.iloc[0]["n"] == 180
    assert wide.iloc[0]["Hit@10"].startswith(
        f"{m.original:.1f} → {m.perturbed:.1f} ({m.change:+.1f} ["
    )
    text = " ".join(pt.reading(st))
    assert "Masking the keywords costs bm25 the most" in text and "BM25 keeps" in text
    rc = pt.rank_changes(pq)
    assert {"original", "masked", "substituted", "masked change"} <= set(rc.columns)
    from bmembed_lab.perturbation.study import rank_change_view

    lost = rc[rc.original.notna() & rc.masked.isna() & rc["masked perturbed"]].iloc[0]
    assert np.isnan(lost["masked change"])
    # a question never masked (q0 has no masked version) is "not perturbed", never "lost"
    unmasked = rank_change_view(rc[rc.query_id == "q0"], 100)
    assert set(unmasked["masked: change (- = worse)"]) == {"not perturbed"}
    assert set(unmasked["masked rank"]) == {"not perturbed"}
    # the drill-down's lost count per system is the study's: Hit@10 kept minus lost
    view = rank_change_view(rc, 100)
    bm = view[rc.system.to_numpy() == "bm25"]
    n_lost = (bm["masked: change (- = worse)"] == "lost").sum()
    n_found = (bm["masked: change (- = worse)"] == "found").sum()
    assert (n_found - n_lost) / 180 * 100 == pytest.approx(m.change)
    fell = pd.DataFrame(
        {
            "query_id": ["a", "b", "c"],
            "system": ["x"] * 3,
            "original": [2.0, 3.0, np.nan],
            "masked": [7.0, np.nan, 4.0],
            "substituted": [1.0, 3.0, np.nan],
        }
    )
    fell["masked change"] = fell.original - fell.masked
    v = rank_change_view(fell, 100)
    assert list(v["masked: change (- = worse)"]) == ["-5", "lost", "found"]
    assert list(v["substituted: change (- = worse)"]) == ["+1", "same", "-"]
    assert list(v["original rank"]) == ["2", "3", "not in top 100"]
    assert (
        not v.isna().any().any()
        and "None" not in v.to_string()
        and "nan" not in v.to_string().lower()
    )


def test_pipeline_study_on_tiny_corpus(tmp_path, beir_dir, tiny_model_dir, tiny_wordnet_dir):
    cfg = tiny_config(
        tmp_path,
        beir_dir,
        tiny_model_dir,
        perturbation__wordnet_dir=str(tiny_wordnet_dir),
        perturbation__max_df=0.9,
    )
    pipe = Pipeline(cfg)
    res = pipe.perturbation_study(["bm25", "base", "rrf", "base@16"])
    pset, key = pipe.perturbations()
    by_id = {q.query_id: q for q in pset.queries}
    assert by_id["q3"].keywords and "[MASK]" in by_id["q3"].masked
    # every system saw the same perturbed texts: one BM25 run per variant, and the dense runs
    # are keyed by the same query texts
    pq = res["per_query"]
    assert set(pq.variant) == {"original", "masked", "substituted"}
    masked_ids = set(pset.variant("masked")[0])
    for s in ("bm25", "base", "rrf", "base@16"):  # name@d as in evaluate
        assert set(pq[(pq.system == s) & (pq.variant == "masked")].query_id) == masked_ids
    with pytest.raises(InputError, match="perturbation.systems"):
        pipe.perturbation_study(["bm25", "dense"])
    # a new process reopens the study from the cache, without resampling (notebook 07's open)
    import bmembed_lab.perturbation as pt_mod
    real, pt_mod.run_study = pt_mod.run_study, None
    try:
        again = Pipeline(cfg, read_only=True).perturbation_study(["bm25", "base", "rrf", "base@16"])
    finally:
        pt_mod.run_study = real
    pd.testing.assert_frame_equal(again["study"], res["study"])
    assert again["reading"] == res["reading"]
    # BM25 scores nothing once every shared word is masked away: the gold chunk is lost
    bm = pq[(pq.system == "bm25") & (pq.variant == "masked")]
    assert (bm["Hit@10"] <= pq[(pq.system == "bm25") & (pq.variant == "original")
                               & pq.query_id.isin(bm.query_id)]["Hit@10"].to_numpy()).all()
    assert set(res["study"].system) == {"bm25", "base", "rrf", "base@16"} and res["reading"]
    # cached: a new pipeline loads the set without recomputing
    again = Pipeline(cfg)
    assert again.perturbations()[1] == key and again.perturbations()[0].queries == pset.queries


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("BMEMBED_TEST_KEY", "sk-test")
    with FakeOpenAI(api_key="sk-test", timeout_sleep=1.0) as s:
        yield s


def test_llm_keywords_and_substitutes_over_http(tmp_path, beir_dir, tiny_model_dir, server):
    llm = {"llm__base_url": server.base_url, "llm__api_key_env": "BMEMBED_TEST_KEY",
           "llm__backoff": 0.01, "llm__timeout": 0.5}
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, perturbation__keywords="llm",
                      perturbation__substitution="llm", llm__max_retries=2, **llm)
    server.script("429", "badbody")  # retried
    pset, _ = Pipeline(cfg).perturbations()
    q2 = next(q for q in pset.queries if q.query_id == "q2")
    assert q2.keywords == ["doctors", "ultrasound", "gallstones"]
    # the fake model returns None for 'ultrasound': left in place and counted
    assert q2.substitutions == {"doctors": "srotcod", "gallstones": "senotsllag"}
    assert q2.substituted == "do srotcod use ultrasound for senotsllag"
    assert pset.counts["keywords without a substitute (left in place)"] >= 1
    n = len(server.requests)
    Pipeline(cfg).perturbations()  # cached stage: nothing sent
    assert len(server.requests) == n
    # a dead endpoint: a clear error naming the endpoint and the offline fix
    server.fail_after = 0
    cfg2 = tiny_config(tmp_path / "b", beir_dir, tiny_model_dir, perturbation__keywords="llm",
                       perturbation__substitution="none", llm__max_retries=1, **llm)
    with pytest.raises(InputError, match="offline"):
        Pipeline(cfg2).perturbations()


def test_parse_llm_replies_validate():
    assert parse_keywords('```json\n{"keywords": ["Kidney", "pizza", "kidney"]}\n```',
                             "kidney stones", 5) == ["Kidney"]  # not in query / duplicate dropped
    assert parse_keywords("no json here", "q", 5) is None
    assert parse_substitutions(
        '{"substitutions": {"stones": "rocks", "kidney": "kidney organ", "x": "y", "pain": ""}}',
        ["stones", "kidney", "pain"],
    ) == {"stones": "rocks"}


def test_cli_perturb(tmp_path, beir_dir, tiny_model_dir, tiny_wordnet_dir, capsys):
    from bmembed_lab.cli import main

    toml = tiny_config_file(tmp_path, beir_dir, tiny_model_dir, eval__bootstrap=100,
                            eval__dev_fraction=0.2, perturbation__wordnet_dir=str(tiny_wordnet_dir),
                            perturbation__max_df=0.9, perturbation__systems=["bm25", "base"])
    assert main(["perturb", "-c", str(toml), "--out", str(tmp_path / "p.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "masked:" in out and "substituted" in out and "- Masking the keywords" in out
    rows = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and any(r["masked"] for r in rows)
    # no WordNet: exit 2 with the fix, no traceback
    assert (
        main(["perturb", "-c", str(toml), "--set", 'perturbation.wordnet_dir="/nonexistent"']) == 2
    )
    assert "wordnet-base" in capsys.readouterr().err


@pytest.mark.skipif(
    not (REAL_WORDNET / "index.noun").is_file(), reason="Debian wordnet-base not installed"
)
def test_real_wordnet_irregular_forms_and_light_verbs():
    wn = WordNet.load(REAL_WORDNET)
    assert inflect_like("get", "acquired", "acquire", "v", wn.irregular("v")) == "got"
    assert (
        inflect_like("shed blood", "bleeding", "bleed", "v", wn.irregular("v")) == "shedding blood"
    )
    assert inflect_like("child", "kids", "kid", "n", wn.irregular("n")) == "children"
    assert wn.synonym("causes")[0] not in ("does", "makes")  # light verbs are never chosen


def test_reading_wording_follows_the_intervals():
    def row(system, change, lo, hi, orig=50.0):
        return {
            "system": system,
            "variant": "masked",
            "metric": "Hit@10",
            "queries": 100,
            "original": orig,
            "perturbed": orig + change,
            "change": change,
            "ci_low": lo,
            "ci_high": hi,
        }

    same = pd.DataFrame([row("base", -20, -25, -15), row("bmembed", -20.4, -25, -15)])
    assert "about as much as base" in " ".join(pt.reading(same))
    overlap = pd.DataFrame([row("base", -30, -38, -22), row("bmembed", -20, -27, -13)])
    assert "the difference is not established" in " ".join(pt.reading(overlap))
    apart = pd.DataFrame([row("base", -40, -44, -36), row("bmembed", -10, -14, -6)])
    assert "leans less on the exact keywords" in " ".join(pt.reading(apart))
    lower = pd.DataFrame(
        [row("base", -40, -44, -36, orig=60), row("bmembed", -20, -24, -16, orig=30)]
    )
    assert "are not comparable; it keeps 33% of its Hit@10, base 33%" in " ".join(pt.reading(lower))
    # a gain is said as a gain, never as a loss with a plus sign
    gain = pd.DataFrame(
        [row("bm25", -2.2, -6.7, 0.0), row("base", 0.0, -6.7, 6.7), row("bmembed", 2.2, 0.0, 6.7)]
    )
    text = " ".join(pt.reading(gain))
    assert "bmembed gains (+2.2)" in text and "fares 2.2 points better than base" in text
    assert "loses least (+" not in text and "loses 2.2" not in text
    none = pd.DataFrame([row("base", 0.0, -1, 1), row("bmembed", 1.5, 0.5, 2.5)])
    assert (
        pt.reading(none)[0]
        == "Masking the keywords costs no system any Hit@10: every change is +0.0 points or above."
    )


def test_substitutes_that_change_the_meaning_are_dropped_and_counted():
    """The base encoder judges each substitute: below perturbation.min_similarity it is
    dropped (the keyword stays in place) and counted, with examples."""
    vec = {"diagnose": [1.0, 0.0], "name": [0.0, 1.0], "diagnosticate": [0.8, 0.6],
           "pain": [0.6, 0.8], "hurting": [0.6, 0.8]}

    def embed(texts):
        return np.array([vec[t] for t in texts], dtype=float)
    subs = [{"diagnose": "name", "pain": "hurting"}, {"diagnose": "diagnosticate"}]
    kept, n, dropped = pt.similar_substitutes(subs, embed, 0.5)
    assert kept == [{"pain": "hurting"}, {"diagnose": "diagnosticate"}]
    assert n == 1 and dropped == [("diagnose", "name", 0.0)]
    assert pt.similar_substitutes(subs, embed, -1.0)[0] == subs  # the floor off keeps all
    s = pt.build_set(
        ["a", "b"],
        ["how to diagnose pain", "diagnose it"],
        [["diagnose", "pain"], ["diagnose"]],
        kept,
        "[MASK]",
    )
    assert s.queries[0].substituted == "how to diagnose hurting"
    assert s.queries[0].no_substitute == ["diagnose"]
