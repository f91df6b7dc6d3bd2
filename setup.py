"""Build step for the wheel: it carries the notebooks, the demo config and the demo corpus
(``bmembed_lab/assets.py`` says which, and finds them), so the package works installed, not
only checked out. Everything else about the package is in pyproject.toml."""

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "bmembed_lab"))
from assets import SHIPPED  # noqa: E402  (the one list of what ships; assets.py imports nothing)


class BuildWithAssets(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout
            return
        bundle = Path(self.build_lib) / "bmembed_lab" / "_bundle"
        for folder, patterns in SHIPPED.items():
            for pattern in patterns:
                for src in (ROOT / folder).glob(pattern):
                    if src.is_file() and "__pycache__" not in src.parts:
                        dst = bundle / folder / src.relative_to(ROOT / folder)
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildWithAssets})
