"""Results sliced by document, question template and keyword overlap (issue 34, line 4): each
question lands in the slice its gold chunk and its words say, and each slice compares two
systems on its own questions with a paired interval."""

import pandas as pd

from bmembed_lab import slices
from bmembed_lab.chunking import Chunk
from bmembed_lab.config import BM25Config
from bmembed_lab.questions import Questions
from bmembed_lab.relevance import Relevance


def setup():
    chunks = [Chunk("c0", "d0", "glaucoma damages the optic nerve", 0, 10, 5, title="Glaucoma"),
              Chunk("c1", "d1", "insulin lowers blood sugar", 0, 10, 4, title="Diabetes")]
    ids = ["q1", "q2", "q3"]
    texts = ["What is glaucoma and the optic nerve", "What is insulin",
             "How many people have tremors"]
    rel = Relevance({"q1": {0: 1.0}, "q2": {1: 1.0}, "q3": {1: 1.0}},
                    {q: {} for q in ids}, {q: 1 for q in ids})
    return Questions("test", ids, texts, rel, "k"), chunks


def test_each_question_lands_in_the_slice_its_gold_and_words_say():
    q, chunks = setup()
    cfg = BM25Config()
    assert slices.labels("document", q, chunks, cfg) == {
        "q1": "Glaucoma", "q2": "Diabetes", "q3": "Diabetes"}
    assert slices.labels("template", q, chunks, cfg)["q3"] == "how many people ..."
    overlap = slices.labels("keyword overlap", q, chunks, cfg)
    assert overlap["q1"].startswith("50%") and overlap["q3"].startswith("0%")  # 4 of 7 words


def test_a_slice_compares_two_systems_on_its_own_questions():
    pq = pd.DataFrame({"system": ["a"] * 6 + ["b"] * 6, "query_id": [f"q{i}" for i in range(6)] * 2,
                       "MAP@10": [1, 1, 1, 0, 0, 0] + [0, 0, 0, 0, 0, 0]})
    of = {f"q{i}": "first" if i < 3 else "second" for i in range(6)}
    t = slices.table(pq, "a", "b", of, min_questions=3)
    assert list(t.slice) == ["first", "second"] and list(t.questions) == [3, 3]
    assert list(t["a"]) == [100.0, 0.0] and t["a − b [95%]"][0].startswith("+100.00")
    assert slices.table(pq, "a", "b", of, min_questions=4).empty  # small slices left out
