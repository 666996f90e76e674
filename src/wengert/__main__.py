"""``python -m wengert``: the command line (see :mod:`wengert.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
