"""bench/notebook_open.py's table: each notebook's time beyond marimo's own floor (the reference
notebooks measured in the same rounds) is computed from the results, against the right reference."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    spec = importlib.util.spec_from_file_location(
        "notebook_open", ROOT / "bench" / "notebook_open.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runs(name: str, opens: list[float], plots: int, reference: bool = False) -> list[dict]:
    return [{"notebook": name, "reference": reference, "open s": t, "page loaded s": 1.0,
             "first output s": 1.5, "errors": False, "plot layers drawn": plots} for t in opens]


def test_reference_notebooks_exist_and_floor_is_taken_from_the_matching_reference():
    bench = load_bench()
    assert {p.name for p in bench.REFERENCES} == {"marimo_only.py", "one_plot.py"}
    cold = (
        runs("00_overview.py", [2.4, 2.5, 2.3], 0)
        + runs("05_alignment.py", [3.2, 3.0, 3.3], 6)
        + runs("marimo_only.py", [1.6, 1.7, 1.6], 0, True)
        + runs("one_plot.py", [2.6, 2.7, 2.5], 3, True)
    )
    warm = (runs("00_overview.py", [1.5], 0) + runs("05_alignment.py", [1.7], 6)
            + runs("marimo_only.py", [0.8], 0, True) + runs("one_plot.py", [1.4], 3, True))
    table = bench.render({"rows": cold, "warm browser": warm, "rounds": 3, "machine": {"cpus": 2}})
    row = {
        line.split("`")[1]: line
        for line in table.splitlines()
        if line.startswith("| ") and "`" in line
    }
    assert "| +0.8 / +0.7 |" in row["00_overview.py"]  # 2.4 - 1.6 (no figure: marimo alone)
    assert "| +0.6 / +0.3 |" in row["05_alignment.py"]  # 3.2 - 2.6 (figures: marimo and plotly)
    assert "reference: `one_plot.py`" in table
    # the summary counts the notebooks, not the references
    assert "1 of 2 under 3 s" in table and "the slowest single open 3.3 s" in table
    assert "`marimo_only.py` 1.6 / 0.8; `one_plot.py` 2.6 / 1.4" in table


def test_the_bench_times_the_readmes_server_and_says_which_it_timed():
    bench = load_bench()
    nb = ROOT / "notebooks" / "06_embedding_map.py"
    ours, plain = bench.server_command(nb, 2718), bench.server_command(nb, 2718, "marimo")
    assert (
        ours[1:5] == ["-m", "bmembed_lab.cli", "notebooks", str(nb)] and "--token-password" in ours
    )
    assert plain[1:4] == ["-m", "marimo", "run"] and "--token" in plain
    rows = runs("00_overview.py", [1.0], 0) + runs("one_plot.py", [1.0], 3, True)
    for kind, said in (
        ("bmembed-lab", "`bmembed-lab notebooks`"),
        ("marimo", "plain `marimo run`"),
    ):
        table = bench.render(
            {"rows": rows, "warm browser": rows, "machine": {"cpus": 2}, "server": kind}
        )
        assert f"a fresh {said}" in table


def test_the_in_order_pass_gets_its_own_column_and_summary_and_old_results_render_without_it():
    bench = load_bench()
    cold = (
        runs("00_overview.py", [2.4], 0)
        + runs("06_map.py", [3.4], 6)
        + runs("one_plot.py", [2.5], 3, True)
    )
    warm = (
        runs("00_overview.py", [1.2], 0)
        + runs("06_map.py", [1.9], 6)
        + runs("one_plot.py", [1.1], 3, True)
    )
    ordered = runs("00_overview.py", [2.3], 0) + runs(
        "06_map.py", [2.8], 6
    )  # no references in this pass
    table = bench.render(
        {"rows": cold, "in order": ordered, "warm browser": warm, "machine": {"cpus": 2}}
    )
    head = next(line for line in table.splitlines() if line.startswith("| notebook"))
    row = {
        line.split("`")[1]: line
        for line in table.splitlines()
        if line.startswith("| ") and "`" in line
    }
    assert "opened in order (00 first)" in head and head.count("|") == row["06_map.py"].count("|")
    assert "| 3.4 (1.0) | 2.8 (1.0) | 1.9 (1.0) |" in row["06_map.py"]
    assert "| 2.5 (1.0) | - | 1.1 (1.0) |" in row["one_plot.py"]
    assert (
        "the notebooks in order, each opened for the first time: medians 2.3-2.8 s, 2 of 2 under 3 "
        "s"
        in table
    )
    old = bench.render({"rows": cold, "warm browser": warm, "machine": {"cpus": 2}})
    assert "in order" not in old and old.splitlines()[2].count("|") == 7
