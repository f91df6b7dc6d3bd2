"""How long each notebook takes to open from the cache, in a real browser.

For every notebook: a fresh `marimo run` server on 127.0.0.1 (config: configs/demo.toml unless
--config), headless Debian Chromium opens it, and the time from navigation until the page's
text last changed (polled every 0.2 s, settled after 4 s without change) is the open time.
Run it after `make demo` (which computes everything the notebooks show). Results go to
bench/results/notebook_open.json and the table between <!-- open:start --> and
<!-- open:end --> in notebooks/README.md.

    python bench/notebook_open.py [--config configs/demo.toml] [--notebooks 00,04]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "notebook_open.json"
TOKEN = "bmembed-open-time"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_time(notebook: Path, config: Path, settle: float = 4.0, limit: float = 300.0,
              screens: Path | None = None) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    port = free_port()
    env = dict(os.environ, BMEMBED_CONFIG=str(config))
    server = subprocess.Popen([sys.executable, "-m", "marimo", "run", str(notebook), "--host", "127.0.0.1",
                               "--port", str(port), "--headless", "--token", "--token-password", TOKEN],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,2000"):
        opts.add_argument(a)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=opts)
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        t0 = time.perf_counter()
        driver.get(f"http://127.0.0.1:{port}/?access_token={TOKEN}")
        last_text, last_change = "", time.perf_counter()
        while time.perf_counter() - t0 < limit:
            text = driver.execute_script("return document.body.innerText")
            now = time.perf_counter()
            if text != last_text:
                last_text, last_change = text, now
            elif now - last_change >= settle and len(text) > 200:
                break
            time.sleep(0.2)
        errors = "raised an exception" in last_text or "An internal error" in last_text
        if screens is not None:  # a full-page screenshot, for reading the notebook afterwards
            screens.mkdir(parents=True, exist_ok=True)
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(1400, min(max(2000, height + 200), 12000))
            time.sleep(1.0)
            driver.save_screenshot(str(screens / f"{notebook.stem}.png"))
        return {"notebook": notebook.name, "open s": round(last_change - t0, 2), "errors": errors,
                "characters shown": len(last_text)}
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.toml")
    ap.add_argument("--notebooks", default="")
    ap.add_argument("--screens", type=Path, default=ROOT / "bench" / ".work" / "screens",
                    help="full-page screenshots go here (git-ignored)")
    a = ap.parse_args()
    pick = set(a.notebooks.split(",")) - {""}
    books = [p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")) if not pick or p.name[:2] in pick]
    rows = []
    for nb in books:
        rows.append(open_time(nb, a.config.resolve(), screens=a.screens))
        print(json.dumps(rows[-1]), flush=True)
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "config": str(a.config),
              "rows": rows}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    table = ["| notebook | opens in (s) | errors |", "|---|---|---|"] + [
        f"| `{r['notebook']}` | {r['open s']:.1f} | {'yes' if r['errors'] else 'none'} |" for r in rows]
    from benchutil import write_block

    write_block(ROOT / "notebooks" / "README.md", "open",
                "Open time from the cache after `make demo` (`python bench/notebook_open.py`; "
                f"{os.cpu_count()} cores; navigation until the page stops changing):\n\n" + "\n".join(table))
    print("\n".join(table))


if __name__ == "__main__":
    main()
