"""A line that keeps ticking while an opaque step runs (a numba kernel compiled on first use, a
UMAP fit): the elapsed time is redrawn every second, so a long step never looks like a hung
run. Steps that can count their work use a real progress bar instead.

In: a description. Out: a context manager; the line is cleared when the step ends.
"""

from __future__ import annotations

import contextlib
import threading


@contextlib.contextmanager
def ticking(desc: str, every: float = 1.0, disable: bool = False):
    """Show ``desc: <elapsed>`` (tqdm, stderr), redrawn every ``every`` seconds, while the
    block runs."""
    from tqdm.auto import tqdm

    bar = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed}", leave=False,
               disable=disable)
    stop = threading.Event()

    def tick():
        while not stop.wait(every):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield bar
    finally:
        stop.set()
        thread.join()
        bar.close()
