"""The marimo notebooks run headless as scripts on a tiny config, and their figures hold the
right data (the apps are run in-process and their definitions inspected)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import tiny_config_file

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


@pytest.fixture
def tiny_toml(tmp_path, beir_dir, tiny_model_dir, tiny_wordnet_dir, monkeypatch) -> Path:
    p = tiny_config_file(tmp_path, beir_dir, tiny_model_dir, "tiny.toml", eval__dev_fraction=0.2,
                         sampling__m=3, training__steps=2, training__warmup_steps=1,
                         training__lr=1e-3, perturbation__wordnet_dir=str(tiny_wordnet_dir),
                         perturbation__max_df=0.9)
    monkeypatch.setenv("BMEMBED_CONFIG", str(p))
    return p


def load_app(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.app


@pytest.mark.timeout(300)
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs_as_a_script(nb, tiny_toml):
    out = subprocess.run([sys.executable, str(nb)], capture_output=True, text=True, timeout=280,
                         env=dict(os.environ), cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stderr, out.stderr[-3000:]


def test_partition_designer_data(tiny_toml):
    from bmembed_lab import workbench

    workbench.open_pipeline().training_ranking()  # opening only reads the cache
    lists = workbench.open_pipeline().training_lists()[0]  # what 02's histogram reads
    _, defs = load_app(ROOT / "notebooks" / "02_bm25_sampling.py").run()
    view, fig = defs["view"], defs["fig"]
    items = view["items"]
    assert len(items) == 3 and items["target p"].sum() == pytest.approx(1.0, abs=1e-5)
    assert list(items["rank"]) == sorted(items["rank"])  # one chunk per interval, in rank order
    for shown, rank in zip(items["interval (ranks)"], items["rank"]):  # both 1-based, as the CLI
        lo, _, hi = shown.partition("-")
        assert int(lo) <= rank <= int(hi or lo)
    sampled = fig.data[1]
    assert list(sampled.x) == list(items["rank"]) and list(sampled.y) == list(items["bm25"])
    assert len(fig.data[0].y) == view["candidates"]
    pipe = workbench.open_pipeline()  # the base model's own distribution over the drawn list
    own = workbench.model_view(pipe, "base", "a question", view["rows"],
                               items["target p"].to_numpy(), pipe.cfg.training.tau)
    assert own["model p"].sum() == pytest.approx(1.0) and own["loss"] >= own["floor"] - 1e-6
    same = workbench.model_view(pipe, "base", "a question", view["rows"], own["model p"], 0.05)
    assert same["loss"] == pytest.approx(same["floor"], abs=1e-6)  # at the target: the floor
    spread = defs["spread"]  # every training list's target at the slider's alpha
    assert len(spread["normalised"]) == len(lists.scores)
    assert 0 <= spread["peaked"] <= 1 and len(defs["spread_fig"].data[0].x) == len(
        spread["normalised"])


def test_embedding_map_data(tiny_toml):
    from bmembed_lab import workbench

    _, nothing = load_app(ROOT / "notebooks" / "06_embedding_map.py").run()
    assert "coords" not in nothing  # no adapted model: it says so, and trains nothing
    from bmembed_lab.embedmap import MapParams

    workbench.open_pipeline().trained("bmembed", progress=False)
    workbench.open_pipeline().embedding_map(("base", "bmembed"), MapParams(15, 0.1))
    workbench.open_pipeline().evaluate(["base", "bmembed"])  # the runs the map's lines read
    _, defs = load_app(ROOT / "notebooks" / "06_embedding_map.py").run()
    coords, table, lines, fig = defs["coords"], defs["table"], defs["lines"], defs["fig"]
    per_model = coords.groupby(["model", "kind"]).size().unstack()
    assert set(per_model.index) == {"base", "bmembed"}
    assert (per_model.loc["base"] == per_model.loc["bmembed"]).all()  # same items in both panels
    # a lasso sends each point's trace and index (not its customdata): both keys are found
    c = next(i for i, t in enumerate(fig.data)
             if t.customdata is not None and len(t.customdata) > 1)
    keys = workbench.selected_keys(fig, [{"curveNumber": c, "pointIndex": 0, "x": 0, "y": 0},
                                         {"curveNumber": c, "pointNumber": 1}])
    assert keys == {tuple(str(x) for x in fig.data[c].customdata[j][:3]) for j in (0, 1)}
    assert workbench.selected_keys(fig, [{"x": 1, "y": 2}]) == set()
    q = defs["question"].value
    gold = lines["base"]["gold"]
    assert gold and set(gold) == set(lines["bmembed"]["gold"])
    assert (table[(table.kind == "chunk") & table.item.isin(gold)].relevance == "gold chunk").all()
    assert ((table.kind == "query") & (table.item == q)).sum() == 2
    # every line starts at the selected question's point in its panel: one trace of segments
    # (question, chunk, None) per panel and kind, a segment per gold chunk at least
    stars = [(t.x[0], t.y[0]) for t in fig.data if t.mode == "markers" and t.marker.symbol == "star"
             and t.hoverinfo == "skip"]
    segments = [
        (t.x[i], t.y[i]) for t in fig.data if t.mode == "lines" for i in range(0, len(t.x), 3)
    ]
    assert len(stars) == 2 and len(segments) >= 2 * len(gold) and all(s in stars for s in segments)
    # the gold chunks stand out: large diamonds with a dark edge, one per gold chunk and panel
    diamonds = [t for t in fig.data if t.mode == "markers" and t.marker.symbol == "diamond"
                and t.hoverinfo == "skip"]
    assert sum(len(t.x) for t in diamonds) == 2 * len(gold) and all(
        t.marker.size >= 12 for t in diamonds
    )
    assert fig.layout.xaxis.title.text == "UMAP 1"
    names = {t.name for t in fig.data if t.showlegend is not False and t.name}
    assert "gold chunk" in names and not any(
        ", " in n for n in names
    )  # each legend entry said once
    shown = [t for t in fig.data if t.showlegend is not False and t.name]
    assert len(shown) == len({t.name for t in shown})  # no entry twice
    # the legend shows the marks the title names: the star, the green diamond, the red ring
    marks = {t.name: t.marker.symbol for t in shown if t.hoverinfo == "skip"}
    assert marks == {
        "selected question": "star",
        "gold chunk": "diamond",
        "the model's top 5": "circle-open",
    }
    moved = defs["moved"]
    assert moved["closer"] + moved["further"] + moved["same"] == len(defs["query_ids"])
    docs = set(table[table.kind == "chunk"]["document (10 largest)"])
    assert len(docs) <= 11  # ten documents and "other documents", whatever the corpus
    # reopening loads the cached coordinates (no new UMAP fit)
    again = workbench.open_pipeline().embedding_map(("base", "bmembed"), defs["params"])
    assert again.equals(coords)


def test_alignment_uniformity_and_evaluation_notebooks_data(tiny_toml):
    from bmembed_lab import workbench

    pipe = workbench.open_pipeline()
    pipe.trained("bmembed", progress=False)  # one adapted model in the cache
    for s in ("base", "bmembed"):  # what notebooks 05 and 04 read (opening only reads the cache)
        pipe.alignment_uniformity(s)
    pipe.evaluate(["bm25", "base", "rrf", "bmembed", "rrf+bmembed"])
    pipe.evaluate(["base", "bmembed"])  # 05's reading (what `diagnose` computes)
    _, defs = load_app(ROOT / "notebooks" / "05_alignment_uniformity.py").run()
    au, fig = defs["au"], defs["fig"]
    assert list(au.system) == ["base", "bmembed"]
    assert (au.uniformity <= 0).all() and (au.uniformity_abs == -au.uniformity).all()
    assert list(fig.data[0].y) == list(au.uniformity_abs)
    assert len(fig.layout.annotations) == 1  # the base -> bmembed arrow
    assert fig.layout.xaxis.rangemode == fig.layout.yaxis.rangemode == "tozero"  # no zoom to 1%
    assert list(defs["gains"]) == ["bmembed"] and "test questions" in defs["gains"]["bmembed"]
    _, ev = load_app(ROOT / "notebooks" / "04_evaluation.py").run()
    assert list(ev["res"]["summary"].index) == ["bm25", "base", "rrf", "bmembed", "rrf+bmembed"]
    wl = ev["wl"]
    assert set(wl.status) <= {"fixed", "broke", "both hit", "both miss"}
    assert sum(ev["counts"].values()) == len(wl) == len(ev["res"]["per_query"].query_id.unique())
    assert str(wl["bmembed"].dtype).startswith("int") and all(
        isinstance(x, str) for x in wl.iloc[:, -1]
    )
    sliced = ev["sliced"]  # by keyword overlap: every slice of 5+ questions, sizes adding up
    assert sliced.questions.sum() <= len(wl) and (sliced.questions >= 5).all()
    pairs = ev["pairs"]  # the rank scatter: one point per question both systems rank
    assert len(pairs) == len(wl) and set(pairs.move) <= {"closer", "further", "same"}
    assert sum(len(t.x) for t in ev["rank_fig"].data[1:]) == len(pairs)
    chart = ev["diff_chart"].data[0]
    mapc = ev["res"]["comparisons"].query("metric == 'MAP@10'")
    assert sorted(chart.y) == sorted(mapc.comparison) and len(chart.error_x.array) == len(mapc)
    from bmembed_lab import workbench as wb

    pipe = wb.open_pipeline()
    qid = ev["res"]["per_query"].query_id.iloc[0]
    view = wb.drilldown(pipe, qid, ["bm25", "base"])
    assert (
        view["question"]
        and view["gold"]
        and list(view["table"].columns) == ["rank", "bm25", "base"]
    )
    # BM25 finds the tiny gold chunks
    assert any(t.startswith("★ ") for t in view["table"]["bm25"])
    _, ov = load_app(ROOT / "notebooks" / "00_overview.py").run()
    assert ov["headline"].equals(ev["res"]["summary"])
    best = ev["res"]["summary"]["MAP@10"].idxmax()
    assert ov["finding"].startswith(f"{best} ranks best") and "bmembed - base" in ov["finding"]
    _, tr = load_app(ROOT / "notebooks" / "03_training.py").run()
    assert tr["trained_info"]["steps"] == 2 and len(tr["loss_fig"].data[0].x) == 2
    assert set(tr["form"].value) >= {
        "method",
        "steps",
        "lr",
        "alpha",
        "tau",
        "loss",
        "grad_accum",
        "lora",
    }
    # a 2-step run is mostly start-up: it gives no rate (timing.MIN_STEPS), and the form says so
    assert "No run of 20 steps or more has been timed" in tr["estimate"]
    lines = [
        s.annotation.text for s in tr["loss_fig"].layout.shapes if hasattr(s, "annotation")
    ] or [a.text for a in tr["loss_fig"].layout.annotations]
    assert any("floor: the targets' entropy" in t for t in lines)
    from bmembed_lab.workbench import listnet_floor

    assert listnet_floor(np.array([[5.0, 0.0], [1.0, 1.0]]), 1.0) == pytest.approx(
        (-(0.99331 * np.log(0.99331) + 0.00669 * np.log(0.00669)) + np.log(2)) / 2, rel=1e-3)


def test_query_generation_notebook_data(tiny_toml):
    from bmembed_lab import workbench

    workbench.open_pipeline().synthetic_queries()  # opening only reads the cache
    _, defs = load_app(ROOT / "notebooks" / "01_query_generation.py").run()
    qs, side, doc = defs["qs"], defs["side"], defs["doc"]
    events = [e for e in qs.events if e.doc_id == doc.value]
    assert len(side) == len(events) > 0
    kept = [q.text for q in qs.queries if q.doc_id == doc.value]
    assert set(" | ".join(side.queries).split(" | ")) - {""} == set(kept)
    assert defs["est"]["documents"] == len(defs["docs"])  # the dry run covers the corpus
    assert len(defs["dropped"]) == len(qs.dropped)


def test_perturbation_notebook_data(tiny_toml):
    from bmembed_lab import workbench

    pipe = workbench.open_pipeline()
    pipe.trained("bmembed", progress=False)  # one adapted model in the cache
    pipe.perturbation_study(
        ["bm25", "base", "bmembed", "rrf+bmembed"]
    )  # opening only reads the cache
    _, defs = load_app(ROOT / "notebooks" / "07_perturbation.py").run()
    pset, res, view, fig = defs["pset"], defs["res"], defs["view"], defs["fig"]
    assert defs["systems"] == ["bm25", "base", "bmembed", "rrf+bmembed"]
    assert set(res["study"].system) == set(defs["systems"])
    # side by side: keywords marked in the original, mask tokens in the masked question
    q = next(x for x in pset.queries if x.keywords)
    row = view[view.query_id == q.query_id].iloc[0]
    assert row.original.count("<mark") == sum(q.text.lower().count(k) for k in q.keywords)
    assert row.masked.count("<mark") == q.masked.count("[MASK]")
    # the bar chart shows the study's changes for the chosen metric
    hit10 = res["study"][(res["study"].metric == "Hit@10") & (res["study"].variant == "masked")]
    assert list(fig.data[0].y) == list(hit10.change)
    assert res["reading"] and res["counts"]["queries"] == len(pset.queries)


def test_opening_every_notebook_after_the_demo_commands_writes_nothing(tiny_toml):
    """After `run`, `perturb` and `diagnose` (what `make demo` runs), every notebook opens from
    the cache: the cache's files are the same before and after opening all of them."""
    from bmembed_lab.cli import main

    text = tiny_toml.read_text()  # the demo's systems: what notebooks 00 and 04 show
    tiny_toml.write_text(
        text.replace(
            "[eval]\n", '[eval]\nsystems = ["bm25", "base", "rrf", "bmembed", "rrf+bmembed"]\n', 1
        )
    )
    for cmd in (["run"], ["perturb", "--show", "0"], ["diagnose"]):
        assert main([cmd[0], "-c", str(tiny_toml), "-q", *cmd[1:]]) == 0
    cache = tiny_toml.parent / "cache"

    def files():
        return {p.relative_to(cache): p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    before = files()
    for nb in NOTEBOOKS:
        load_app(nb).run()
    after = files()
    assert after == before, sorted(set(after) ^ set(before))[:10]


def test_opening_every_notebook_on_an_empty_cache_computes_and_writes_nothing(tiny_toml):
    """Opening only reads: on a config whose cache is empty every notebook opens, says what is
    not computed yet and how to compute it, and creates no cache folder at all."""
    from bmembed_lab import pageui, workbench

    notes = []
    real = pageui.from_cache

    def spy(read, button="", command=""):
        try:
            return real(read, button, command)
        except BaseException as stop:  # marimo's stop: the cell shows the note instead
            notes.append(type(stop).__name__)
            raise
    workbench.from_cache = pageui.from_cache = spy  # the notebooks' and pageui's own reads
    try:
        for nb in NOTEBOOKS:
            load_app(nb).run()
    finally:
        workbench.from_cache = pageui.from_cache = real
    assert not (tiny_toml.parent / "cache").exists()
    assert len(notes) >= len(NOTEBOOKS) - 1  # every notebook that reads a stage stopped at it


def test_the_notebook_helpers_keep_plotly_and_nbformat_working_without_rfc3987_syntax():
    """workbench marks rfc3987-syntax absent (its import compiles 38 grammars at every notebook
    open): nbformat still reads and validates a notebook and plotly still renders a figure."""
    code = ("import sys, time; from bmembed_lab import workbench; t = time.perf_counter(); "
            "import nbformat, plotly.graph_objects as go; from plotly.io import _renderers; "
            "nb = nbformat.v4.new_notebook(); nbformat.validate(nb); "
            "html = go.Figure(go.Scatter(x=[1], y=[2])).to_html(include_plotlyjs=False); "
            "assert 'rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'] is None; "
            "print(len(html) > 100)")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr[-2000:]


def test_a_notebook_figure_with_the_plot_config_leaves_plotlys_renderers_out():
    """Every notebook shows its figures as mo.ui.plotly(fig, config=charts.PLOT_CONFIG): with a
    config, marimo does not look up plotly's default renderer, whose import pulls nbformat and
    jsonschema in (about a second of a notebook's first figure). Without it, they are imported:
    the check can fail."""
    code = ("import sys, marimo as mo, pandas as pd; from bmembed_lab import charts; "
            "cmp = pd.DataFrame({'metric': ['MAP@10'], 'comparison': ['a - b'], 'diff': [1.0], "
            "'ci_low': [0.5], 'ci_high': [1.5]}); fig = charts.comparison_chart(cmp); "
            "mo.ui.plotly(fig, config=charts.PLOT_CONFIG); a = 'nbformat' in sys.modules; "
            "mo.ui.plotly(fig); print(a, 'nbformat' in sys.modules)")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip() == "False True", (
        out.stdout + out.stderr[-2000:]
    )
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        src = nb.read_text()
        assert src.count("mo.ui.plotly(") == src.count("config=charts.PLOT_CONFIG)"), nb.name


def test_marimo_edit_runs_the_notebooks_when_they_open():
    """The README opens the editor with `bmembed-lab notebooks --edit`; marimo's own default is to
    show stale code until one presses Run, so the project's config turns running on open on (as
    marimo resolves it for a notebook here, not as the file says)."""
    from marimo._config.manager import get_default_config_manager

    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        config = get_default_config_manager(current_path=str(nb)).get_config()
        assert config["runtime"]["auto_instantiate"] is True, nb.name


def test_what_every_notebook_imports_leaves_out_torch_scipy_and_numba():
    """Opening a notebook imports the workbench, the pipeline and the evaluation helpers: none
    of them may pull torch, transformers, scipy or numba in (each costs a notebook's open time;
    they are imported where a computation needs them)."""
    code = (
        "import sys; from bmembed_lab import workbench, pipeline, evaluation, perturbation; "
        "print(sorted(m for m in ('torch', 'transformers', 'scipy', 'numba') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]


def test_the_loss_reference_and_the_keyword_table_of_the_notebooks():
    from types import SimpleNamespace

    from bmembed_lab import workbench

    losses = [{"step": i, "loss": float(i)} for i in range(1, 31)]
    assert workbench.loss_start(losses) == 5.5 and workbench.loss_start(losses, 3) == 2.0
    q = [
        SimpleNamespace(
            query_id=f"q{i}",
            text="What causes gout?",
            keywords=["gout"],
            masked="What causes [MASK]?",
            substituted="",
            substitutions={},
            no_substitute=["gout"],
        )
        for i in range(3)
    ]
    view = workbench.perturbation_view(SimpleNamespace(queries=q), "[MASK]", first=2)
    assert list(view.columns) == [
        "query_id",
        "original",
        "masked",
        "substituted",
        "keywords",
        "no substitute",
    ]
    assert list(view.query_id) == ["q0", "q1"] and "<mark" in view.original[0]
    assert workbench.perturbation_keywords(q).to_dict("records")[2] == {
        "query_id": "q2", "keywords": "gout", "no substitute": "gout"}


def test_overview_names_every_notebook():
    text = (ROOT / "notebooks" / "00_overview.py").read_text()
    books = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert len(books) == 10 and [b for b in books if f"`{b}`" not in text] == []


def test_progress_bars_follow_the_work_reported(monkeypatch):
    """workbench.Progress turns (done, total) callbacks into marimo bars: one per pass (a new
    total, or a count that starts again), advanced by what was done; none when nothing ran."""
    import marimo as mo

    from bmembed_lab import workbench

    bars = []

    class Bar:
        def __init__(self, total, title, subtitle, remove_on_exit):
            self.total, self.title, self.done, self.closed = total, title, 0, False
            bars.append(self)

        def __enter__(self):
            return self

        def update(self, increment=1):
            self.done += increment

        def __exit__(self, *exc):
            self.closed = True

    monkeypatch.setattr(mo.status, "progress_bar", Bar)
    with workbench.Progress("generating queries", "LLM calls") as bar:
        for done in (2, 3, 5):  # extraction: 5 calls, the first 2 from the cache
            bar(done, 5)
        for done in (1, 2, 3, 4):  # synthesis: 4 calls
            bar(done, 4)
    assert [(b.total, b.done, b.closed) for b in bars] == [(5, 5, True), (4, 4, True)]
    assert bars[1].title == "generating queries (2)"
    with workbench.Progress("nothing to do"):
        pass
    assert len(bars) == 2

    class Pipe:  # encode_with_progress asks each dense encoder once, with a callback
        def __init__(self):
            self.asked = []

        def chunk_embeddings(self, name, on_batch=None):
            self.asked.append(name)
            on_batch(10, 10)

    pipe = Pipe()
    workbench.encode_with_progress(pipe, ["bm25", "base", "rrf", "bmembed", "rrf+bmembed"])
    assert pipe.asked == ["base", "bmembed"] and [b.total for b in bars[2:]] == [10, 10]


def test_ablations_notebook_reads_the_cached_sweep(tiny_toml):
    from bmembed_lab import ablations

    ablations.run(tiny_toml, [], ["k"], say=lambda *a: None)
    _, defs = load_app(ROOT / "notebooks" / "08_ablations.py").run()
    table, fig = defs["table"], defs["fig"]
    # the tiny config's m = 3 and 1/alpha = 0.5 make those two variants the default itself
    assert list(table.variant) == ["default", "fine-to-coarse m=3", "k=100", "k=1000",
                                   "1/alpha=0.5"]
    (line,) = fig.data  # metric against m: one strategy, one point, the default's own (0)
    assert line.name == "fine-to-coarse" and list(line.x) == [3] and list(line.y) == [0.0]
    text = ablations.reading(table)
    assert text.startswith("Of 1 variant, ")  # k=100: the others are the tiny config's own
    assert "fine-to-coarse m=3, k=1000, 1/alpha=0.5: the default recipe itself" in text


def test_pages_show_short_paths(tmp_path, monkeypatch):
    """No long absolute path on a page (issue 34, line 6): under the current folder a path is
    relative, under the home folder it starts with ~/, elsewhere it is left as it is."""
    from bmembed_lab.workbench import shown_path

    home, here = tmp_path / "home", tmp_path / "home" / "work"
    (here / "data").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(here)
    assert shown_path(here / "data") == "data" and shown_path(here) == "."
    assert shown_path(home / "models" / "m") == "~/models/m"
    assert shown_path("/opt/x") == "/opt/x"


def test_an_error_of_the_package_stops_a_cell_with_its_fix_not_an_internal_error(monkeypatch):
    """marimo's run mode shows a raised exception as "An internal error occurred"; from_cache
    turns the package's InputError (too few chunks for m, ...) into a callout with its fix."""
    import marimo as mo

    from bmembed_lab import workbench
    from bmembed_lab.errors import InputError

    shown = []
    monkeypatch.setattr(mo, "stop", lambda pred, output=None: shown.append((pred, output)))

    def bad():
        raise InputError("only 4 chunks for m = 9", "sampling.m", "lower sampling.m to 4")
    workbench.from_cache(bad)
    (pred, note), = shown
    assert pred is True and "only 4 chunks" in note.text and "lower sampling.m to 4" in note.text
    assert "sampling.m" in note.text


def test_a_not_computed_note_names_make_demo_only_for_the_demo(tiny_toml, monkeypatch):
    """On one's own config the note names `bmembed-lab run -c` with that config, never `make
    demo` (which computes the demo, not this corpus); on the demo config it names both."""
    import marimo as mo

    from bmembed_lab import workbench
    from bmembed_lab.assets import demo_config
    from bmembed_lab.errors import NotComputed

    shown = []
    monkeypatch.setattr(mo, "stop", lambda pred, output=None: shown.append(output.text))

    def missing():
        raise NotComputed("chunks")
    workbench.from_cache(missing)
    assert "make demo" not in shown[-1] and f"bmembed-lab run -c {tiny_toml}" in shown[-1]
    monkeypatch.setenv("BMEMBED_CONFIG", str(demo_config()))
    workbench.from_cache(missing)
    assert "make demo" in shown[-1]
