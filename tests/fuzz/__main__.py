"""``python -m tests.fuzz``: the long random-program run (see tests/fuzz/run.py)."""

if __name__ == "__main__":
    import sys

    from .run import main

    sys.exit(main())
