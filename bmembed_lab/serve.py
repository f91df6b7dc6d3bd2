"""``bmembed-lab notebooks``: serve the notebooks with marimo, what they import already imported.

`marimo run` runs each notebook's kernel as a thread of its server, started when a browser
connects, so the first notebook opened after the server starts also pays for importing what
every notebook's first cells import: pandas and numpy, plotly's figure classes, marimo's
markdown renderer and the workbench's modules (0.3-0.6 s of a 2-core machine's 1-1.2 s of
cells). This command imports them in the server before it listens (its start takes about
0.6 s longer) and exempts them from the garbage collector's passes, so the first notebook opens
as fast as the ones after it (notebooks/README.md has the measured open times). Nothing is
computed and the cache is not read: the notebooks still read it when they open. `--edit` serves
marimo's editor instead, whose kernels are new processes: nothing can be imported for them
ahead, so none is.
"""

from __future__ import annotations

import gc
import os
import runpy
import sys
import time
from pathlib import Path

from .assets import notebooks_dir
from .errors import InputError


def notebook_path(name: str | None) -> Path:
    """The notebooks folder (``name`` None: every notebook, marimo's gallery), or one notebook:
    its number ("06"), its name with or without ".py" ("06_embedding_map"), or a path (a
    notebook, or a folder of them: a gallery)."""
    notebooks = notebooks_dir()
    if name is None:
        return notebooks
    path = Path(name)
    if (path.suffix == ".py" and path.is_file()) or path.is_dir():
        return path.resolve()
    found = sorted(notebooks.glob(f"{path.stem}*.py")) if path.stem[:2].isdigit() else []
    if len(found) == 1:
        return found[0]
    names = ", ".join(p.stem for p in sorted(notebooks.glob("[0-9][0-9]_*.py")))
    what = f"{name!r} names more than one notebook" if found else f"no notebook {name!r}"
    raise InputError(what, "notebooks NOTEBOOK", f"give one of: {names} (or its number, e.g. "
                     "06), or the path of a notebook or of a folder of notebooks")


def warm_imports() -> float:
    """Import, in this process, what the notebooks' opening cells import, and build marimo's
    markdown renderer and plotly's figure classes once (both are built on first use). Never
    torch: no notebook imports it to open. Returns the seconds it took."""
    t = time.perf_counter()
    import marimo as mo
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import plotly.graph_objects as go

    go.Figure([go.Scatter(x=[0], y=[0]), go.Scattergl(x=[0], y=[0]), go.Bar(x=[0], y=[0])]
              ).to_json()
    mo.md("*ready*").text  # noqa: B018 - the first md() builds marimo's markdown renderer
    from . import (charts, diagnostics, embedmap, evaluation, partitions,  # noqa: F401
                   perturbation, pipeline, workbench)
    return time.perf_counter() - t


def serve(notebook: str | None = None, config: Path | None = None, edit: bool = False,
          port: int | None = None, headless: bool = False, marimo_options: list[str] = ()) -> int:
    """Start marimo on 127.0.0.1 for ``notebook`` (see :func:`notebook_path`): `marimo run
    --token` (the notebooks as apps, code hidden) after :func:`warm_imports`, or `marimo edit`
    (token on by marimo's default). ``config``: the TOML the notebooks open (``$BMEMBED_CONFIG``
    for them; default: that variable, else the demo's). ``marimo_options`` go to marimo as
    they are. Returns marimo's exit code when the server stops."""
    from .config import load_config

    path = notebook_path(notebook)
    if config is not None:
        load_config(config)  # a bad config fails here, named, not in every notebook's first cell
        os.environ["BMEMBED_CONFIG"] = str(Path(config).resolve())
    args = ["edit" if edit else "run", str(path), "--host", "127.0.0.1"]
    args += ["--port", str(port)] if port else []
    args += ["--headless"] if headless else []
    args += [] if edit else ["--token"]
    if not edit:
        print(f"imported what the notebooks import in {warm_imports():.1f} s; starting marimo",
              file=sys.stderr)
        # what is imported now lives as long as the server: left out of the garbage collector's
        # full passes, which a notebook's first cells otherwise trigger over all of it (0.1-0.2 s)
        gc.freeze()
    sys.argv = ["marimo", *args, *marimo_options]
    try:  # `python -m marimo`, in this process: its run-mode kernels share these imports
        runpy.run_module("marimo", run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0
