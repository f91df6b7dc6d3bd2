"""The pipeline's in-memory memo: each stage computed once per pipeline, timed, forgettable.

:class:`StageMemo` is the base of :class:`bmembed_lab.pipeline.Pipeline`. ``_stage(name, fn)``
computes ``name`` once; ``timings`` records each stage's own seconds (nested stages
excluded); the memo records which stages were computed from which, so ``invalidate(stage)``
forgets a stage, every result computed from it and its cache entries. Memo names are the
stages' cache names, qualified after a colon (``dense_run:bmembed:test``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class StageMemo:
    timings: dict[str, float] = field(default_factory=dict, kw_only=True)
    _memo: dict = field(default_factory=dict, kw_only=True, repr=False)
    _dependents: dict[str, set[str]] = field(default_factory=dict, kw_only=True, repr=False)
    # [name, seconds of nested stages] frames of the stages being computed
    _running: list = field(default_factory=list, kw_only=True, repr=False)
    # called with a stage's name as it starts (computed, or read from the disk cache)
    on_stage: object = field(default=None, kw_only=True, repr=False)

    def _stage(self, name: str, fn):
        """Compute ``name`` once; ``timings`` records its own seconds (nested stages excluded)
        and the memo records which stages were computed from it."""
        if self._running:
            self._dependents.setdefault(name, set()).add(self._running[-1][0])
        if name not in self._memo:
            if self.on_stage is not None:
                self.on_stage(name)
            self._running.append([name, 0.0])
            t = time.perf_counter()
            try:
                self._memo[name] = fn()
            finally:
                elapsed = time.perf_counter() - t
                _, nested = self._running.pop()
            self.timings[name] = elapsed - nested
            if self._running:
                self._running[-1][1] += elapsed
        return self._memo[name]

    def invalidate(self, stage: str) -> int:
        """Forget a stage so the next call recomputes it: its cache entries (every config) and
        every in-memory result of it (any qualifier) or computed from it. Notebooks' recompute
        buttons call this. Returns the number of cache entries removed."""
        todo = [n for n in self._memo if n == stage or n.startswith(stage + ":")]
        while todo:
            name = todo.pop()
            self._memo.pop(name, None)
            todo += [d for d in self._dependents.pop(name, ()) if d in self._memo]
        return self.cache.clear(stage)
