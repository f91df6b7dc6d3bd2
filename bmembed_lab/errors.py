"""User-facing errors: each names the input at fault and how to fix it. The CLI prints them
without a traceback; library callers can catch ``InputError``."""


class InputError(ValueError):
    """Bad user input (file, config value, parameter). The message says what, where and the fix."""

    def __init__(self, what: str, where: str = "", fix: str = ""):
        self.what, self.where, self.fix = what, where, fix
        parts = [f"{where}: {what}" if where else what]
        if fix:
            parts.append(f"Fix: {fix}")
        super().__init__("\n".join(parts))


class NotComputed(InputError):
    """A read-only pipeline (the notebooks' view) met a stage that is not in the cache: it
    never computes or writes, it says what to run."""

    def __init__(self, stage: str):
        self.stage = stage
        super().__init__(f"'{stage}' is not in the cache yet for this config", "cache",
                         "run `make demo` (or `bmembed-lab run -c CONFIG`), or the notebook's "
                         "compute button")
