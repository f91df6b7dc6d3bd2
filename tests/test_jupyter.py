"""JupyterLab users: a notebook exported with `marimo export ipynb` executes top to bottom in a
Jupyter kernel (nbclient + ipykernel) on the tiny config."""

import subprocess
import sys

import pytest

from .test_notebooks import ROOT, tiny_toml  # noqa: F401  (fixture)


@pytest.mark.timeout(300)
def test_exported_notebook_runs_in_a_jupyter_kernel(tmp_path, tiny_toml):  # noqa: F811
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    from bmembed_lab import workbench

    workbench.open_pipeline().training_lists()  # the notebook only reads the cache (ranking,
    # and the lists its histogram reads)

    out = tmp_path / "02_bm25_sampling.ipynb"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "marimo",
            "export",
            "ipynb",
            str(ROOT / "notebooks" / "02_bm25_sampling.py"),
            "-o",
            str(out),
            "--sort",
            "topological",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    nb = nbformat.read(out, as_version=4)
    assert sum(c.cell_type == "code" for c in nb.cells) >= 6
    # the kernel inherits this process's environment, BMEMBED_CONFIG (the tiny config) included
    NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(o.get("output_type") in ("execute_result", "display_data") for o in outputs)
