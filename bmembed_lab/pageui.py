"""What a notebook page shows around the stage cache: the read that stops a cell with a note
(and a button that computes the missing stage) when the cache lacks it, an error of the
package's as a red callout with its fix, and progress while a button computes.

A page opens a read-only pipeline, so opening never computes. Each page that reads stages
holds one :func:`compute_button`; the "not computed yet" note shows that button, and pressing
it re-runs the page's cells on a computing pipeline, whose stages announce themselves in a
spinner (:func:`stage_spinner`) while long steps (encoding) show their own progress bars.
"""

from __future__ import annotations

import threading
from pathlib import Path

COMPUTE = "Compute what this page needs"

# the spinner a computing pipeline opened in the running cell; from_cache closes it. Per
# thread: `marimo run` runs each browser session's kernel as a thread of one process
_local = threading.local()


def _active() -> list:
    if not hasattr(_local, "spinners"):
        _local.spinners = []
    return _local.spinners


def compute_button(label: str = COMPUTE):
    """A page's compute button: shown inside a "not computed yet" note, never on its own."""
    import marimo as mo

    return mo.ui.run_button(label=label, kind="success")


def stage_spinner(stage: str) -> None:
    """A computing pipeline's ``on_stage`` hook: a spinner in the running cell names the stage
    being computed (or read from the cache) until the cell's read ends."""
    import marimo as mo

    active = _active()
    if not active:
        spin = mo.status.spinner(title="Computing what the cache lacks (a training run takes "
                                       "minutes)", remove_on_exit=True)
        active.append((spin, spin.__enter__()))
    active[0][1].update(subtitle=f"stage {stage.split(':')[0]}")


def _close_spinner() -> None:
    active = _active()
    while active:
        active.pop()[0].__exit__(None, None, None)


def _run_text(command: str) -> str:
    """The terminal command that computes this page's stages for the notebooks' config."""
    from .assets import demo_config
    from .workbench import config_path, shown_path

    cfg = shown_path(config_path())
    if command:
        return f"`{command.replace('CONFIG', cfg)}`"
    demo = config_path().resolve() == Path(demo_config()).resolve()
    return ("`make demo` (the demo config) or " if demo else "") + f"`bmembed-lab run -c {cfg}`"


def from_cache(read, button=None, command: str = ""):
    """``read()``, or, when a stage it needs is not cached yet, stop the notebook cell with a
    note naming the stage and what computes it: ``button`` (the page's run button, shown in
    the note, or a button's label elsewhere on the page) and ``command``, the one CLI command
    that computes it (``CONFIG`` stands for the notebooks' config; default ``bmembed-lab
    run``). Any other error of the package's (:class:`~bmembed_lab.errors.InputError`: too
    few chunks for m, no labelled questions ...) stops the cell with its message and fix
    (:func:`error_note`)."""
    import marimo as mo

    from .errors import InputError, NotComputed

    try:
        return read()
    except NotComputed as err:
        shown = button is not None and not isinstance(button, str)
        how = ("press the button below (it computes here, with progress), or " if shown else
               f"press **{button}**, or " if button else "")
        note = mo.md(f"**Not computed yet:** stage `{err.stage}` is not in the cache for this "
                     f"config. Opening a notebook only reads the cache: {how}run "
                     f"{_run_text(command)} in a terminal, then reload.")
        mo.stop(True, mo.callout(mo.vstack([note, button]) if shown else note, kind="warn"))
    except InputError as err:  # marimo's run mode shows a raised error as "An internal error"
        mo.stop(True, error_note(err))
    finally:
        _close_spinner()


def error_note(err) -> object:
    """An :class:`~bmembed_lab.errors.InputError` as a notebook shows it: what is wrong, where
    (the option or file) and the fix, in a red callout instead of marimo's "An internal error
    occurred" (which is all a `marimo run` page shows of a raised exception)."""
    import marimo as mo

    where = f" (`{err.where}`)" if err.where else ""
    fix = f"\n\n**Fix:** {err.fix}" if err.fix else ""
    return mo.callout(mo.md(f"**{err.what}**{where}{fix}"), kind="danger")


class Progress:
    """A ``progress(done, total)`` callback shown as marimo progress bars: a bar opens at the
    first call and a new one whenever the total changes or the count starts again (the llm
    backend's two passes, extraction calls then synthesis calls), each titled ``title`` and
    numbered. Nothing shows when no work is done (everything came from the cache). Use as a
    context manager, so the last bar closes."""

    def __init__(self, title: str, unit: str = ""):
        self.title, self.unit = title, unit
        self._bar, self._total, self._done, self._part = None, None, 0, 0
        self._outer = None

    def __call__(self, done: int, total: int) -> None:
        import marimo as mo

        if self._bar is None or total != self._total or done < self._done:
            self.close()
            self._part += 1
            self._outer = mo.status.progress_bar(  # the context; __enter__ gives the bar
                total=total, title=self.title + (f" ({self._part})" if self._part > 1 else ""),
                subtitle=f"{total} {self.unit}".strip(), remove_on_exit=True)
            self._bar = self._outer.__enter__()
            self._total, self._done = total, 0
        self._bar.update(increment=done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._outer.__exit__(None, None, None)
            self._bar = self._outer = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def encode_with_progress(pipe, systems: list[str], button=None) -> None:
    """Each dense encoder of ``systems`` encodes the chunks (or reads them from the cache)
    with a progress bar, before runs that need them: a re-encoding shows its progress."""
    from .evaluation import parse_system

    for name in dict.fromkeys(parse_system(s).encoder for s in systems):
        if name:
            with Progress(f"encoding the chunks with {name}", "chunks") as bar:
                from_cache(lambda name=name, bar=bar: pipe.chunk_embeddings(name, on_batch=bar),
                           button)


def _plain(value):
    """A cell as a reader reads it: a list as its items joined by commas, not Python's repr."""
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple, set)) else value


def table(data, selection=None, **options):
    """A table as the pages show it: no dtype labels under the headers, no column summaries (a
    projector's width holds the values instead), lists as their items; ``options`` go to
    ``mo.ui.table``."""
    import marimo as mo
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        data = data.apply(lambda col: col.map(_plain) if col.dtype == object else col)
    elif isinstance(data, list):
        data = [{k: _plain(v) for k, v in row.items()} if isinstance(row, dict) else row
                for row in data]
    return mo.ui.table(data, selection=selection, **({"show_data_types": False,
                                                      "show_column_summaries": False} | options))
