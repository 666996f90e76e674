"""wengert's random-program differential test (see docs/fuzz.md).

gen.py draws programs over the wengert.numpy surface as Python source,
checks.py checks every transformation against a finite-difference oracle,
shrink.py makes failures small, run.py is the long run (python -m tests.fuzz).
"""
