"""The prose agrees with the measurements: every "difference [95% interval]" that the README or
the method notes quote is one that a results file in bench/results/ holds, at the precision
shown (A - B may be quoted as B - A, and a loss as a magnitude: "1.0 [0.3, 1.6] below")."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTERVAL = re.compile(r"([+-]?\d+\.\d+) \[([+-]?\d+\.\d+), ([+-]?\d+\.\d+)\]")
PROSE = ["README.md", "docs/method.md", "notebooks/README.md"]


def measured_intervals() -> list[tuple[float, float, float]]:
    """(difference, low, high) of every interval in bench/results/*.json: the numeric records
    and the intervals written into their text lines (the check's evidence, the notes)."""
    found: list[tuple[float, float, float]] = []

    def walk(o):
        if isinstance(o, dict):
            low = next((k for k in ("ci_low", "low") if isinstance(o.get(k), (int, float))), None)
            high = {"ci_low": "ci_high", "low": "high"}.get(low)
            value = next(
                (k for k in ("diff", "change") if isinstance(o.get(k), (int, float))), None
            )
            if low and value and isinstance(o.get(high), (int, float)):
                found.append((o[value], o[low], o[high]))
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
        elif isinstance(o, str):
            found.extend(tuple(map(float, m.groups())) for m in INTERVAL.finditer(o))

    for path in sorted((ROOT / "bench" / "results").glob("*.json")):
        walk(json.loads(path.read_text()))
    return found


def shown_as(x: float, text: str, signed: bool) -> bool:
    digits = len(text.split(".")[1])
    return (
        f"{x:+.{digits}f}".lstrip("+") == text.lstrip("+")
        if signed
        else f"{abs(x):.{digits}f}" == text.lstrip("+-")
    )


def quoted(measured, d: str, lo: str, hi: str) -> bool:
    signed = any(t[0] in "+-" for t in (d, lo, hi))
    for a, b, c in measured:
        if shown_as(a, d, signed) and shown_as(b, lo, signed) and shown_as(c, hi, signed):
            return True
        if shown_as(-a, d, signed) and shown_as(-c, lo, signed) and shown_as(-b, hi, signed):
            return True  # B - A quoted where A - B was measured, or a loss as a magnitude
    return False


def test_every_interval_quoted_in_the_prose_is_a_measured_one():
    measured = measured_intervals()
    assert len(measured) > 100
    stray = []
    for name in PROSE:
        text = (ROOT / name).read_text()
        for m in INTERVAL.finditer(text):
            if not quoted(measured, *m.groups()):
                stray.append(f"{name}:{text[:m.start()].count(chr(10)) + 1}: {m.group(0)}")
    assert not stray, "intervals in the prose that no results file holds (stale or mistyped):\n" + \
        "\n".join(stray)
