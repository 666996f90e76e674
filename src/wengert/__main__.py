"""``python -m wengert``: the command line (see :mod:`wengert.cli`)."""

from .cli import main

raise SystemExit(main())
