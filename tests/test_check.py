"""`check`: each verdict on a small corpus built to produce it, with the real MiniLM (the
verdict depends on what a real encoder can and cannot match), and the verdict rule itself."""

import pytest

from bmembed_lab.check import HANDICAP, MARGIN, format_report, run_check, verdict
from bmembed_lab.cli import main
from bmembed_lab.pipeline import Pipeline

from .conftest import tiny_config, tiny_config_file, write_jsonl

# 30 invented names, each named by one harbour record; the questions ask for a sauce recipe
# with that name, beside 20 recipe pages: BM25 follows the rare name, a sentence encoder the topic.
_SYL = "ka lo mi zu re vo ta ne shi qua bri xo".split()
NAMES = [
    (_SYL[i % 12] + _SYL[(5 * i + 3) % 12] + _SYL[(7 * i + 1) % 12]).capitalize() for i in range(30)
]
DISHES = [
    "pasta",
    "soup",
    "stew",
    "salad",
    "curry",
    "risotto",
    "noodles",
    "pie",
    "tacos",
    "dumplings",
]
CODE_DOCS = [(f"c{i}", f"The old harbour ledger lists {n} among the cargo unloaded in {1800 + i}.")
             for i, n in enumerate(NAMES)]
CODE_QUERIES = [(f"qc{i}", f"recipe for {n} sauce") for i, n in enumerate(NAMES)]
RECIPES = ([(f"r{i}", f"A classic {d} recipe: simmer the sauce slowly, season it well and serve "
             f"the {d} hot.") for i, d in enumerate(DISHES)]
           + [(f"h{i}", f"Home cooks love this {d} recipe with a rich homemade sauce.")
              for i, d in enumerate(DISHES)])

# 30 facts and questions that share no word: BM25 scores nothing, a sentence encoder matches.
PARAPHRASES = [
    ("The feline slept on the warm windowsill all afternoon.", "cat napping by a sunny window"),
    (
        "Physicians prescribe antibiotics against bacterial infections.",
        "doctors give drugs for germs",
    ),
    (
        "The automobile would not start because its battery was dead.",
        "car engine failing, flat cell",
    ),
    ("Heavy rainfall caused the river to overflow its banks.", "flooding after storms"),
    ("She purchased fresh vegetables at the farmers market.", "buying produce from growers"),
    ("The aircraft landed safely despite strong crosswinds.", "plane touchdown in gusty weather"),
    ("Children learn arithmetic in elementary school.", "kids studying math in primary grades"),
    ("The chef seasoned the soup with garlic and thyme.", "cook flavouring broth with herbs"),
    (
        "Volcanic eruptions release ash into the atmosphere.",
        "mountain explosions spewing dust skyward",
    ),
    ("Investors sold shares when the market dropped.", "traders dumping stock during a crash"),
    (
        "The orchestra performed a symphony by Beethoven.",
        "musicians playing classical composer's work",
    ),
    ("Bees pollinate flowers while collecting nectar.", "insects helping blossoms reproduce"),
    ("The athlete sprinted to victory in the final race.", "runner winning championship dash"),
    (
        "Glaciers are melting because of rising temperatures.",
        "ice sheets shrinking as climate warms",
    ),
    ("The library lends books to residents for free.", "borrowing novels at no cost locally"),
    ("Dentists recommend brushing teeth twice daily.", "tooth care advice, two cleanings per day"),
    ("The puppy chewed through the leather sofa.", "young dog destroyed couch"),
    ("Solar panels convert sunlight into electricity.", "photovoltaics generating power"),
    ("The senator delivered a speech about taxation.", "politician talk on fiscal levies"),
    ("Hikers reached the summit before sunrise.", "trekkers topping the peak at dawn"),
    ("The bakery sells croissants every morning.", "pastry shop offering breakfast rolls"),
    ("Earthquakes shook buildings across the city.", "tremors rattling urban structures"),
    (
        "The nurse measured the patient's blood pressure.",
        "clinician checking hypertension readings",
    ),
    ("Farmers harvested wheat in late summer.", "growers reaping grain at season end"),
    ("The scientist observed cells under a microscope.", "researcher viewing tissue magnified"),
    ("A thief stole jewelry from the museum.", "burglar took gems from exhibit hall"),
    ("The toddler giggled at the clown's tricks.", "small child laughing at circus jester"),
    ("Mechanics repaired the truck's broken transmission.", "garage fixing lorry gearbox"),
    ("The couple celebrated their wedding anniversary.", "spouses marking marriage milestone"),
    (
        "Students protested against higher tuition fees.",
        "pupils demonstrating over costly education",
    ),
]
PARA_DOCS = [(f"p{i}", d) for i, (d, _) in enumerate(PARAPHRASES)]
PARA_QUERIES = [(f"qp{i}", q) for i, (_, q) in enumerate(PARAPHRASES)]

# 30 facts whose questions repeat their distinctive words: both systems find them.
EASY = [(f"e{i}", f"The {w} festival in town {i} attracts many visitors each spring.")
        for i, w in enumerate("lantern tulip kite jazz cheese pumpkin oyster salsa balloon"
                              " chili mango lavender poetry robot garlic dragon sailing"
                              " honey cider violin comet marble puppet origami falcon"
                              " quilt saffron glacier bamboo tango".split())]
EASY_QUERIES = [(f"qe{i}", f"{d.split()[1]} festival town {i}") for i, (_, d) in enumerate(EASY)]


def _corpus(root, docs, queries, distractors=()):
    write_jsonl(root / "corpus.jsonl", [{"_id": i, "title": "", "text": t}
                                        for i, t in list(docs) + list(distractors)])
    write_jsonl(root / "queries.jsonl", [{"_id": i, "text": t} for i, t in queries])
    (root / "qrels").mkdir(parents=True)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t1\n" for (q, _), (d, _) in zip(queries, docs)))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("kind, expected", [("codes", "help"), ("paraphrases", "hurt"),
                                            ("easy", "unclear")])
def test_each_verdict_on_a_corpus_built_for_it(tmp_path, kind, expected):
    docs, queries = {"codes": (CODE_DOCS, CODE_QUERIES), "paraphrases": (PARA_DOCS, PARA_QUERIES),
                     "easy": (EASY, EASY_QUERIES)}[kind]
    root = _corpus(tmp_path / kind, docs, queries, RECIPES if kind == "codes" else ())
    cfg = tiny_config(tmp_path, root, "all-MiniLM-L6-v2", eval__bootstrap=2000,
                      chunking__chunk_tokens=128, queries__min_words=2, queries__leakage="flag")
    r = run_check(Pipeline(cfg))
    assert r["verdict"] == expected, format_report(r)
    assert r["questions"]["count"] == 30 and r["reasons"]
    assert 0 <= r["top-10 overlap bm25/base"] <= 1


def test_verdict_rule():
    def gap(d, lo, hi):
        return {"diff": d, "low": lo, "high": hi, "queries": 100}
    assert verdict(gap(12, MARGIN + 1, 15), None, True)[0] == "help"
    assert verdict(gap(4, 2, 6), None, True)[0] == "unclear"  # ahead, but not by the margin
    assert verdict(gap(-6, -9, -3), None, True)[0] == "hurt"
    assert verdict(gap(1, -2, 4), None, True)[0] == "unclear"
    handicap = {"diff": HANDICAP + 3, "low": 1.0, "high": 8.0}
    word, why = verdict(gap(-6, -9, -3), handicap, True)
    assert word == "help" and "not over the clean base" in why[0]
    assert verdict(gap(-6, -9, -3), {"diff": 1.0, "low": 0.2, "high": 2}, True)[0] == "hurt"
    assert verdict(gap(12, 8, 15), None, False)[0] == "unclear"


def test_check_command(tmp_path, beir_dir, tiny_model_dir, capsys):
    cfg = tiny_config_file(tmp_path, beir_dir, tiny_model_dir, encoder__protocol="reference",
                           eval__depth=100)
    out_json = tmp_path / "check.json"
    assert main(["check", "-c", str(cfg), "--json", str(out_json), "-q"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Verdict: ") and "protocol: reference" in out
    assert "prefix cost (clean base - reference base)" in out and out_json.is_file()


def test_few_questions_are_flagged_and_a_zero_interval_says_no_question_differs():
    """check decided on 13 dev questions without a word and printed '+0.0 [+0.0, +0.0]':
    a verdict on fewer than 30 questions says what its interval then means, and a zero-width
    interval reads 'no question differs'."""
    import pandas as pd

    from bmembed_lab.check import verdict
    from bmembed_lab.evaluation import format_comparisons
    from bmembed_lab.metrics import SMALL_SAMPLE

    few = {"diff": 9.0, "low": 6.0, "high": 12.0, "queries": 13}
    kind, reasons = verdict(few, None, True)
    assert kind == "help" and "only 13 questions decide this" in reasons[0]
    same = {"diff": 0.0, "low": 0.0, "high": 0.0, "queries": 40}
    assert "no question differs" in verdict(same, None, True)[1][0]
    assert "only" not in verdict(same, None, True)[1][0]
    table = pd.DataFrame([{"comparison": "a - b", "metric": "Hit@10", "diff": 0.0, "ci_low": 0.0,
                           "ci_high": 0.0, "p_value": 1.0, "queries": SMALL_SAMPLE - 1}])
    lines = format_comparisons(table)
    assert "no question differs" in lines[0] and "[+0.00" not in lines[0]
    assert lines[-1].startswith(f"  NOTE only {SMALL_SAMPLE - 1} questions decide this")
    assert len(format_comparisons(table.assign(queries=SMALL_SAMPLE))) == 1


def test_a_dev_selection_on_few_questions_says_so_even_when_clearly_better():
    from bmembed_lab.stages.train import worse_than_base_line

    sel = {"best": 50.0, "base": 40.0, "best_step": 10, "metric": "MAP@10", "on": "dev questions",
           "gain over base": {"diff": 10.0, "low": 4.0, "high": 16.0, "queries": 12}}
    line = worse_than_base_line("m", sel)
    assert "clearly above" in line and "only 12 questions decide this" in line
    assert worse_than_base_line("m", {**sel, "gain over base": {**sel["gain over base"],
                                                                 "queries": 240}}) is None


def test_the_reference_verdict_names_what_it_compares_against_in_its_headline():
    from bmembed_lab.check import format_report

    r = {"verdict": "help", "reasons": ["..."], "protocol": "reference", "query prefix": "Q: ",
         "questions": {"count": 40, "split": "dev"}, "top-10 overlap bm25/base": 0.5,
         "teacher on training queries": None, "resemblance": {}}
    head = format_report(r).splitlines()[0]
    assert head.startswith("Verdict: BMEmbed is expected to HELP against the base model run the "
                           "same way") and "not against the clean base model" in head
    assert format_report(r | {"protocol": "clean"}).splitlines()[0].endswith("HELP")


def test_the_results_header_follows_the_split_it_reports(tmp_path, beir_dir, tiny_model_dir):
    from bmembed_lab.pipeline import Pipeline

    no_dev = Pipeline(tiny_config(tmp_path / "a", beir_dir, tiny_model_dir)).evaluate(["bm25"])
    assert no_dev["questions"] == "all labelled (no dev split)"
    split = Pipeline(tiny_config(tmp_path / "b", beir_dir, tiny_model_dir,
                                 eval__dev_fraction=0.5)).evaluate(["bm25"])
    assert split["questions"] == "test"
