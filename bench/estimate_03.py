"""Is notebook 03's time estimate right? A real run in a real browser, timed against it.

The config's cache is copied into a temporary folder (the original is only read), beside a copy
of the config that differs in one line, the training seed (default 1), so its run is not in the
cache; the config's relative paths are kept by linking the repository's data folder beside it.
`bmembed-lab notebooks 03` serves that copy; headless Debian Chromium opens it, reads the
sentence the form shows ("Estimated X min of training ... plus N dev evaluations, about Y
min"), presses *Train* with the form as it opened (the config's own settings: the default run)
and times the click until the finished run's loss figure is drawn (its title "N steps in S s").
The estimate comes from the runs already in the cache (bmembed_lab.timing), so run this on a
cache whose runs were timed on this machine with nothing else running (after `make demo`), and
keep the machine quiet while it runs (about as long as the default run).
Results go to bench/results/estimate_03.json.

    python bench/estimate_03.py [--config configs/demo.toml] [--seed 1] [--steps N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

from benchutil import RESULTS, ROOT, machine
from notebook_open import PAGE_STATE, TOKEN, browser, free_port, server_command

ESTIMATE = re.compile(r"Estimated ([\d.]+) min of training \(.*? in this cache\)(?: plus (\d+) "
                      r"dev evaluations(?:, about ([\d.]+) min)?)?", re.S)
CLICK = """const want = arguments[0]; const all = [];
const walk = (root) => root.querySelectorAll('*').forEach(e => { all.push(e);
    if (e.shadowRoot) walk(e.shadowRoot); });
walk(document);
const b = all.find(e => e.tagName === 'BUTTON' && e.textContent.includes(want));
if (b) { b.scrollIntoView(); b.click(); return true; } return false;"""


def copy_setup(config: Path, seed: int, steps: int | None, into: Path) -> Path:
    """A copy of ``config`` (training seed changed) and of its cache under ``into``, the
    config's relative paths kept by linking the folders they name beside it."""
    raw = config.read_text()
    cfg = tomllib.loads(raw)
    cache = (config.parent / cfg.get("cache", {}).get("dir", ".bmembed_cache")).resolve()
    here = into / config.parent.name
    here.mkdir(parents=True)
    for p in config.parent.parent.iterdir():  # the folders the config's ../ paths name
        if p.name not in (config.parent.name, cache.name) and not p.name.startswith("."):
            (into / p.name).symlink_to(p)
    shutil.copytree(cache, into / "cache", symlinks=True)
    extra = [f"seed = {seed}"] + ([f"steps = {steps}"] if steps else [])
    text = re.sub(r"(?m)^dir = .*$", 'dir = "../cache"', raw)
    text = re.sub(r"(?m)^steps = .*$\n?", "", text) if steps else text
    text = text.replace("[training]\n", "[training]\n" + "\n".join(extra) + "\n", 1) \
        if "[training]" in text else text + "\n[training]\n" + "\n".join(extra) + "\n"
    out = here / config.name
    out.write_text(text)
    return out


def page_text(driver) -> str:
    return driver.execute_script(PAGE_STATE)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.toml")
    ap.add_argument("--seed", type=int, default=1, help="a training seed with no cached run")
    ap.add_argument("--steps", type=int, default=0, help="override the steps (a quick trial)")
    ap.add_argument("--out", type=Path, default=RESULTS / "estimate_03.json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = copy_setup(a.config.resolve(), a.seed, a.steps or None, Path(tmp))
        port = free_port()
        server = subprocess.Popen(server_command(ROOT / "notebooks" / "03_training.py", port),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=dict(os.environ, BMEMBED_CONFIG=str(config)), cwd=ROOT)
        driver = browser()
        try:
            while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
                time.sleep(0.1)
            driver.get(f"http://127.0.0.1:{port}/?access_token={TOKEN}")
            for _ in range(600):
                found = ESTIMATE.search(page_text(driver))
                if found:
                    break
                time.sleep(0.1)
            else:
                raise SystemExit("03 showed no estimate: is there a timed run in the cache?")
            train_min, n_evals, evals_min = found.groups()
            estimate_s = 60 * (float(train_min) + float(evals_min or 0))
            print(f"estimate: {found.group(0)!r} = {estimate_s:.0f} s", flush=True)
            time.sleep(1.0)
            if not driver.execute_script(CLICK, "Train"):
                raise SystemExit("no Train button")
            clicked = time.perf_counter()
            done = re.compile(r"(\d+) steps in (\d+) s")
            while not (m := done.search(page_text(driver))):
                if "raised an exception" in page_text(driver):
                    raise SystemExit("the run failed in the notebook")
                time.sleep(1.0)
            actual_s = time.perf_counter() - clicked
        finally:
            driver.quit()
            server.terminate()
            server.wait(timeout=30)
    result = {
        "config": str(a.config.relative_to(ROOT) if a.config.is_relative_to(ROOT) else a.config),
        "seed": a.seed, "steps": int(m.group(1)), "machine": machine(),
        "estimate text": found.group(0).strip(),
        "estimate s": round(estimate_s, 1), "dev evaluations": int(n_evals or 0),
        "actual s (click to drawn)": round(actual_s, 1),
        "run's own seconds (train.json)": int(m.group(2)),
        "actual / estimate": round(actual_s / estimate_s, 3),
        "within 25%": abs(actual_s / estimate_s - 1) <= 0.25,
    }
    print(json.dumps(result, indent=1))
    if not a.steps:
        a.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
