"""How long each notebook takes to open from the cache, in a real browser.

For every notebook: a fresh server on 127.0.0.1, the README's `bmembed-lab notebooks NOTEBOOK`
(`marimo run` after importing what the notebooks import; --server marimo: plain `marimo run`),
config configs/demo.toml unless --config; headless Debian Chromium opens it, and the time from
navigation until the page last changed is the open time: its text, shadow roots included
(marimo draws tables, controls and plots there), and the number of plotly plots drawn (polled every
0.1 s, settled after 4 s without change), so a plot still drawing counts. Three passes: in a new
browser per notebook (nothing cached); in one new browser that opens the notebooks in order, 00
first, each for the first time (as someone opening the workbench for the first time goes through it:
the first notebook loads marimo's scripts, the first with a figure plotly's); and in one browser
that has opened every notebook once before (its HTTP and compiled-script caches warm, plotly's
included, as for a teacher who prepared the lesson); beside each, when the browser had loaded
marimo's page and scripts. In the same rounds, marimo's own floor: two reference notebooks of
nothing but marimo (bench/reference_notebooks: one markdown cell; one markdown cell and a
three-point plotly figure), so each notebook's time beyond what any marimo page (with a plotly
figure) takes is shown too. Run it after `make demo` (which computes everything the notebooks show).
Results go to bench/results/notebook_open.json and the table between <!-- open:start --> and <!--
open:end --> in notebooks/README.md (another --out: that file only).

    python bench/notebook_open.py [--config configs/demo.toml] [--notebooks 00,04] [--repeat 3]
                                  [--server bmembed-lab|marimo] [--out bench/results/FILE.json]
                                  [--render] [--baseline bench/results/EARLIER.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "notebook_open.json"
REFERENCES = sorted((ROOT / "bench" / "reference_notebooks").glob("*.py"))
TOKEN = "bmembed-open-time"
# What the page shows: its text with every shadow root's (marimo draws tables, controls and plots
# in shadow roots) and how many plotly plots are drawn, so "settled" means fully rendered.
PAGE_STATE = """
const parts = [document.body.innerText]; let plots = 0;
const walk = (root) => root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) {
    plots += e.shadowRoot.querySelectorAll('.main-svg').length;
    parts.push(e.shadowRoot.textContent); walk(e.shadowRoot); } });
walk(document);
return [parts.join(' '), plots];
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser(profile: Path | None = None):
    """Headless Debian Chromium; ``profile``: a user-data folder kept between opens (its HTTP
    and compiled-script caches warm, as in a browser that has shown marimo before)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,2000"):
        opts.add_argument(a)
    if profile is not None:
        opts.add_argument(f"--user-data-dir={profile}")
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=opts
    )


def server_command(notebook: Path, port: int, kind: str = "bmembed-lab") -> list[str]:
    """The README's server (``bmembed-lab notebooks``: `marimo run` after importing what the
    notebooks import), or plain `marimo run` (``kind`` "marimo"), on 127.0.0.1 with a known
    token."""
    if kind == "marimo":
        return [sys.executable, "-m", "marimo", "run", str(notebook), "--host", "127.0.0.1",
                "--port", str(port), "--headless", "--token", "--token-password", TOKEN]
    return [
        sys.executable,
        "-m",
        "bmembed_lab.cli",
        "notebooks",
        str(notebook),
        "--port",
        str(port),
        "--headless",
        "--",
        "--token-password",
        TOKEN,
    ]


def open_time(
    notebook: Path,
    config: Path,
    port: int,
    driver=None,
    settle: float = 4.0,
    limit: float = 300.0,
    screens: Path | None = None,
    server_kind: str = "bmembed-lab",
) -> dict:
    """Start a fresh server for ``notebook`` (:func:`server_command`) and time its page in
    ``driver`` (a new cold browser when None): navigation until the page (text and drawn plots)
    last changed, with the browser's own page-load time, the moment the first cell output
    showed, and how long the server took to listen."""
    env = dict(os.environ, BMEMBED_CONFIG=str(config))
    started = time.perf_counter()
    server = subprocess.Popen(
        server_command(notebook, port, server_kind),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    own = driver is None
    driver = driver or browser()
    try:
        for _ in range(600):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        t0 = time.perf_counter()
        driver.get(f"http://127.0.0.1:{port}/?access_token={TOKEN}")
        last_seen, last_change, first_output = None, time.perf_counter(), None
        while time.perf_counter() - t0 < limit:
            text, plots = driver.execute_script(PAGE_STATE)
            now = time.perf_counter()
            if first_output is None and len(text) > 200:
                first_output = now - t0
            if (text, plots) != last_seen:
                last_seen, last_change = (text, plots), now
            elif now - last_change >= settle and len(text) > 200:
                break
            time.sleep(0.1)
        last_text, plots = last_seen
        errors = "raised an exception" in last_text or "An internal error" in last_text
        page = driver.execute_script(  # the browser's own clock: page and scripts loaded
            "const t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd;")
        if screens is not None:  # a full-page screenshot, for reading the notebook afterwards
            screens.mkdir(parents=True, exist_ok=True)
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(1400, min(max(2000, height + 200), 12000))
            time.sleep(1.0)
            driver.save_screenshot(str(screens / f"{notebook.stem}.png"))
            driver.set_window_size(1400, 2000)
        return {
            "notebook": notebook.name,
            "reference": notebook in REFERENCES,
            "open s": round(last_change - t0, 2),
            "server start s": round(t0 - started, 2),
            "page loaded s": round(page / 1000, 2),
            "first output s": round(first_output, 2) if first_output is not None else None,
            "errors": errors,
            "characters shown": len(last_text),
            "plot layers drawn": plots,
        }
    finally:
        if own:
            driver.quit()
        server.terminate()
        server.wait(timeout=20)


def one_browser(books: list[Path], config: Path, port: int, server_kind: str, label: str,
                warm_up: bool = False) -> list[dict]:
    """Time ``books`` one after another in one new browser (its own profile, so its caches fill
    as it goes); with ``warm_up``, after opening each of them once uncounted."""
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(Path(profile))
        try:
            for nb in books if warm_up else []:
                open_time(nb, config, port, driver, server_kind=server_kind)
            rows = []
            for nb in books:
                rows.append(open_time(nb, config, port, driver, server_kind=server_kind))
                print(label, json.dumps(rows[-1]), flush=True)
            return rows
        finally:
            driver.quit()


SERVERS = {
    "bmembed-lab": "`bmembed-lab notebooks` (marimo run, the notebooks' imports done before it "
                   "listens)",
    "marimo": "plain `marimo run`",
}


def render(result: dict) -> str:
    """The notebooks/README.md block: per notebook the median open time of each pass with its
    page-load time and range, the time from first output to settled, and a summary line."""
    cold, warm, rounds = result["rows"], result["warm browser"], result.get("rounds", 1)
    ordered = result.get("in order", [])  # results files from before this pass lack it
    books = [Path(n) for n in dict.fromkeys(r["notebook"] for r in cold if not r.get("reference"))]
    refs = [Path(n) for n in dict.fromkeys(r["notebook"] for r in cold if r.get("reference"))]

    def cell(runs: list[dict]) -> str:
        opens, pages = [r["open s"] for r in runs], [r["page loaded s"] for r in runs]
        spread = f", {min(opens):.1f}-{max(opens):.1f}" if len(runs) > 1 else ""
        return f"{statistics.median(opens):.1f} ({statistics.median(pages):.1f}{spread})"

    def after_first_output(runs: list[dict]) -> float:
        return statistics.median(r["open s"] - r["first output s"] for r in runs)

    def of(runs: list[dict], nb: Path) -> list[dict]:
        return [r for r in runs if r["notebook"] == nb.name]

    def med(runs: list[dict], nb: Path) -> float:
        return statistics.median(r["open s"] for r in of(runs, nb))

    def floor(runs: list[dict], nb: Path) -> str:
        """The notebook's median minus the reference's (the one with a figure if it drew one)."""
        plots = any(r["plot layers drawn"] for r in of(runs, nb))
        ref = [f for f in refs if any(r["plot layers drawn"] for r in of(runs, f)) == plots]
        return f"{med(runs, nb) - med(runs, ref[0]):+.1f}" if ref else "-"

    def row(nb: Path, label: str = "") -> str:
        c, w, o = of(cold, nb), of(warm, nb), of(ordered, nb)
        beyond = "" if label else f" {floor(cold, nb)} / {floor(warm, nb)} |"
        in_order = (f" {cell(o) if o else '-'} |" if ordered else "")
        return (f"| {label}`{nb.name}` | {cell(c)} |{in_order} {cell(w)} |{beyond or ' |'} "
                f"{after_first_output(c):.1f} / {after_first_output(w):.1f} | "
                f"{'yes' if any(r['errors'] for r in c + w + o) else 'none'} |")

    order_head = (
        " new browser, the notebooks opened in order (00 first), each for the first time: "
        "opens in s (page loaded, range) |"
        if ordered
        else ""
    )
    table = [
        "| notebook | new browser: opens in s (page loaded, range) |" + order_head + " browser "
        "that has opened the notebooks before: opens in s (page loaded, range) | beyond marimo's "
        "floor, s: new / warm | first output to settled, s: new / warm | errors |",
        "|---|---|---|---|---|---|" + ("---|" if ordered else ""),
    ]
    table += [row(nb) for nb in books] + [row(nb, "reference: ") for nb in refs]

    def span(runs: list[dict]) -> str:
        medians = [med(runs, nb) for nb in books]
        return (
            f"medians {min(medians):.1f}-{max(medians):.1f} s, {sum(m < 3 for m in medians)} of "
            f"{len(books)} under 3 s, the slowest single open "
            f"{max(r['open s'] for r in runs if not r.get('reference')):.1f} s"
        )
    ordered_line = (f" New browser, the notebooks in order, each opened for the first time: "
                    f"{span(ordered)}." if ordered else "")
    table += [
        "",
        f"New browser: {span(cold)}.{ordered_line} Browser that has opened the notebooks before: "
        f"{span(warm)}.",
    ]
    if refs:
        table += [
            "",
            "marimo's floor (bench/reference_notebooks, nothing of the workbench), medians in s, "
            "new / warm browser: "
            + "; ".join(f"`{nb.name}` {med(cold, nb):.1f} / {med(warm, nb):.1f}" for nb in refs)
            + ". Beyond the floor: a notebook's median minus the reference's, the one with a "
            "figure for the notebooks that draw one.",
        ]
    if result.get("baseline"):  # the same measure of earlier code, notebook by notebook
        before = json.loads((ROOT / result["baseline"]).read_text())

        def median(runs: list[dict], nb: Path) -> str:
            return f"{med(runs, nb):.1f}" if of(runs, nb) else "-"

        table += [
            "",
            f"Against the earlier run `{result['baseline']}` ({before.get('rounds', 1)} round(s)), "
            "medians in s, before -> now: "
            + "; ".join(
                f"{nb.name[:2]} new {median(before['rows'], nb)} -> {median(cold, nb)}, warm "
                f"{median(before['warm browser'], nb)} -> {median(warm, nb)}"
                for nb in books
            )
            + ".",
        ]
    server = SERVERS[result.get("server", "marimo")]
    starts = [r["server start s"] for r in cold + warm if "server start s" in r]
    started = (
        f", listening {statistics.median(starts):.1f} s after its command (median)"
        if starts
        else ""
    )
    return (
        "Open time from the cache after `make demo` (`python bench/notebook_open.py`; "
        f"{result['machine']['cpus']} cores; a fresh {server} server per notebook{started}; "
        "navigation "
        "until the page stops changing, its tables and plots drawn; the median of "
        f"{rounds} rounds; in brackets, when the "
        "browser had loaded marimo's page and scripts, before any cell output, and the range of "
        "the open times):\n\n" + "\n".join(table)
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.toml")
    ap.add_argument("--notebooks", default="")
    ap.add_argument("--screens", type=Path, default=ROOT / "bench" / ".work" / "screens",
                    help="full-page screenshots go here (git-ignored)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of both passes; the table shows each notebook's median (and range)",
    )
    ap.add_argument(
        "--server",
        choices=["bmembed-lab", "marimo"],
        default="bmembed-lab",
        help="bmembed-lab: the README's `bmembed-lab notebooks` (default); marimo: plain "
        "`marimo run`, the same notebooks without the server's imports",
    )
    ap.add_argument("--out", type=Path, default=OUT, help="results file; only the default one "
                    "also redraws notebooks/README.md's table")
    ap.add_argument(
        "--render", action="store_true", help="only redraw the table from the results file"
    )
    ap.add_argument(
        "--baseline",
        default="",
        help="a results file of earlier code (relative to the repository) to compare with",
    )
    a = ap.parse_args()
    if a.render:
        from benchutil import write_block

        result = json.loads(OUT.read_text())
        if a.baseline:
            result["baseline"] = a.baseline
            OUT.write_text(json.dumps(result, indent=1))
        write_block(ROOT / "notebooks" / "README.md", "open", render(result))
        return
    pick = set(a.notebooks.split(",")) - {""}
    books = [
        p
        for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
        if not pick or p.name[:2] in pick
    ]
    books += REFERENCES  # marimo's own floor, measured in the same rounds
    port = free_port()  # one port for every server: a warm browser sees the same URLs
    cold, ordered, warm = [], [], []
    config = a.config.resolve()
    for round_ in range(
        a.repeat
    ):  # whole rounds, so slow minutes of the machine hit every notebook
        for nb in books:  # a new browser for each notebook: nothing cached
            cold.append(open_time(nb, config, port, screens=a.screens if round_ == 0 else None,
                                  server_kind=a.server))
            print("cold", json.dumps(cold[-1]), flush=True)
        # a new browser, the notebooks in order, each once; then one that has opened them all before
        ordered += one_browser(
            [nb for nb in books if nb not in REFERENCES], config, port, a.server, "in order"
        )
        warm += one_browser(books, config, port, a.server, "warm", warm_up=True)
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "config": str(a.config),
        "rounds": a.repeat,
        "server": a.server,
        "rows": cold,
        "in order": ordered,
        "warm browser": warm,
        "baseline": a.baseline,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    if a.out.resolve() != OUT.resolve():
        print(render(result))
        return

    from benchutil import write_block

    write_block(ROOT / "notebooks" / "README.md", "open", render(result))
    print(render(result))


if __name__ == "__main__":
    main()
