"""``python -m reconciler.cli``."""

from __future__ import annotations

import sys

from reconciler.cli import main

sys.exit(main())
