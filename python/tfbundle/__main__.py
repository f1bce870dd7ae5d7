"""``python -m tfbundle``: the ``tfbundle`` command (see :mod:`tfbundle.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
