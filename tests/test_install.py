"""The package works installed: the wheel built from this checkout, installed into a fresh
virtual environment, serves its own notebooks from outside the checkout (issue: an installed
package could not open its notebooks, which it read from the repository's folders)."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bmembed_lab import __version__

from .test_browser import CHROMIUM, DRIVER, TOKEN, all_text, free_port, wait_for
from .test_browser import browser  # noqa: F401  (fixture)
from .test_notebooks import ROOT

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a copy of the checkout (a build writes build/ and *.egg-info in place)."""
    out, src = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("src") / "repo"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".bmembed_cache", "build", "dist", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(src)], check=True, cwd=out)
    return next(out.glob("bmembed_lab-*.whl"))


def test_the_wheel_carries_the_notebooks_the_demo_config_and_corpus(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = "bmembed_lab/_bundle/"
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        assert f"{shipped}notebooks/{nb.name}" in names
    assert f"{shipped}configs/demo.toml" in names
    assert f"{shipped}data/medquad_demo/corpus.jsonl" in names
    assert not any("__pycache__" in n for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA"))).decode()
    # torch as a range (another torch 2.x stays installed); numba declared (bm25_numba imports it)
    assert "Requires-Dist: torch<3,>=2.4" in meta and "Requires-Dist: numba>=" in meta
    assert f"Version: {__version__}" in meta


def test_version_and_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "bmembed_lab", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == f"bmembed-lab {__version__}"


@pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
    reason="Debian chromium + chromium-driver not installed (make test installs them)",
)
def test_installed_bmembed_lab_notebooks_opens_the_gallery_outside_the_checkout(
    wheel, tmp_path, browser  # noqa: F811
):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-deps", "-q", str(wheel)], check=True)
    # the dependencies come from this environment's site-packages, without its .pth files (so
    # the editable install of the checkout is not seen): the package is the wheel's
    site = next((venv / "lib").glob("python3*/site-packages"))
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and
                (p / "marimo").is_dir())
    (site / "deps.pth").write_text(str(deps) + "\n")
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import bmembed_lab.assets as a; print(a.home())"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert Path(where.strip()) == site / "bmembed_lab" / "_bundle"
    port, log = free_port(), tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k not in ("BMEMBED_CONFIG", "PYTHONPATH")}
    p = subprocess.Popen([str(venv / "bin" / "bmembed-lab"), "notebooks", "--port", str(port),
                          "--headless", "--", "--token-password", TOKEN],
                         stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=tmp_path, env=env)
    try:
        url = f"http://127.0.0.1:{port}/?access_token={TOKEN}"
        wait_for(lambda: p.poll() is None and _up(port), 120, "the installed server")
        browser.get(url)
        titles = [re.search(r'^# title = "(.+)"', nb.read_text(), re.M).group(1)
                  for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))]
        wait_for(lambda: all(t in all_text(browser) for t in titles), 120,
                 f"the gallery's {len(titles)} cards")
        assert "Traceback" not in log.read_text()
    finally:
        p.terminate()
        p.wait(timeout=20)


def _up(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
