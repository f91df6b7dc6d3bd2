"""``python -m bmembed_lab``: the same as the ``bmembed-lab`` command."""

import sys

from .cli import main

sys.exit(main())
