"""Build the bundled demo corpus data/medquad_demo/ from MedQuAD's NIDDK collection.

MedQuAD (Ben Abacha & Demner-Fushman, BMC Bioinformatics 2019), CC BY 4.0:
https://github.com/abachaa/MedQuAD. Source: ../shared/datasets/medquad/5_NIDDK_QA/*.xml.

What it writes (BEIR layout plus an evidence file):
* corpus.jsonl   one document per NIDDK health topic: the answers of its QA pairs, in order,
                 WITHOUT the questions (a private corpus has no question headings), title = focus;
* queries.jsonl  every MedQuAD question of those topics: the held-out evaluation questions.
                 No training stage may use them (query generation reads corpus.jsonl only,
                 and the leakage check compares synthetic queries against these);
* qrels/test.tsv doc-level labels (question -> its topic document);
* evidence.jsonl the gold fact of each question: the opening sentence(s) of its answer
                 (at least 60 and at most 300 characters), scoped to its document, so that a
                 chunk is relevant when it contains the start of the answer.

Usage: python scripts/build_demo_corpus.py [--source DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "datasets" / "medquad" / "5_NIDDK_QA"
OUT = ROOT / "data" / "medquad_demo"
_SENT_END = re.compile(r"[.!?](?=\s)")


def clean(text: str) -> str:
    lines = [ln.strip() for ln in text.replace("\r", "").split("\n")]
    out, blank = [], False
    for ln in lines:  # collapse runs of blank lines into one paragraph break
        if not ln:
            blank = bool(out)
            continue
        out.append(("\n" if blank else "") + ln)
        blank = False
    return "\n".join(out).strip()


def opening(answer: str, lo: int = 60, hi: int = 300) -> str:
    """The answer's first sentence(s): up to the first sentence end after lo chars, <= hi chars."""
    for m in _SENT_END.finditer(answer):
        if m.end() >= lo:
            if m.end() <= hi:
                return answer[: m.end()]
            break
    cut = answer[:hi]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def build(source: Path, out: Path) -> dict:
    docs, queries, qrels, evidence = [], [], [], []
    for f in sorted(source.glob("*.xml")):
        root = ET.parse(f).getroot()
        doc_id = f"niddk-{root.get('id')}"
        focus = (root.findtext("Focus") or "").strip()
        answers = []
        for qa in root.iter("QAPair"):
            q, a = qa.find("Question"), clean(qa.findtext("Answer") or "")
            if q is None or not a or not (q.text or "").strip():
                continue
            if a not in answers:
                answers.append(a)
            qid = q.get("qid")
            queries.append({"_id": qid, "text": " ".join(q.text.split()), "qtype": q.get("qtype"),
                            "focus": focus})
            qrels.append((qid, doc_id))
            evidence.append({"query_id": qid, "doc_id": doc_id, "text": opening(a)})
        if answers:
            docs.append({"_id": doc_id, "title": focus, "text": "\n\n".join(answers),
                         "url": root.get("url")})
    out.mkdir(parents=True, exist_ok=True)
    (out / "qrels").mkdir(exist_ok=True)
    for name, rows in (
        ("corpus.jsonl", docs),
        ("queries.jsonl", queries),
        ("evidence.jsonl", evidence),
    ):
        with open(out / name, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        fh.writelines(f"{q}\t{d}\t1\n" for q, d in qrels)
    (out / "ATTRIBUTION.md").write_text(
        "Derived from MedQuAD (NIDDK collection), CC BY 4.0.\n"
        "Asma Ben Abacha and Dina Demner-Fushman. A Question-Entailment Approach to Question "
        "Answering. BMC Bioinformatics 20, 511 (2019). https://github.com/abachaa/MedQuAD\n"
        "Changes: answers concatenated per topic without their questions; questions kept as "
        "evaluation queries; answer openings kept as gold evidence. Built by "
        "scripts/build_demo_corpus.py.\n")
    return {"documents": len(docs), "queries": len(queries),
            "bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file())}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    print(build(a.source, a.out))
