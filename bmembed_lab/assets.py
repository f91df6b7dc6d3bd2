"""Where the workbench's own files are: the notebooks, the demo config and the demo corpus.

In a checkout they are the repository's ``notebooks/``, ``configs/`` and ``data/`` folders;
an installed package carries copies of them (``bmembed_lab/_bundle/``, written into the wheel
by ``setup.py``), so ``bmembed-lab notebooks`` and the notebooks' default config work outside
the checkout too. Every other module asks here.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
BUNDLE = PACKAGE / "_bundle"  # inside an installed package (setup.py's build step)
# what setup.py copies into the bundle: the checkout's folders and the files of each it needs
SHIPPED = {"notebooks": ("*.py", "README.md"), "configs": ("demo.toml",),
           "data": ("medquad_demo/**/*",)}


def home() -> Path:
    """The folder holding ``notebooks/``, ``configs/`` and ``data/``: the checkout the package
    is imported from, else the copies installed with it."""
    checkout = PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout
    return BUNDLE


def notebooks_dir() -> Path:
    return home() / "notebooks"


def demo_config() -> Path:
    return home() / "configs" / "demo.toml"
