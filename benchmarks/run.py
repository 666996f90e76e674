"""Run the wengert benchmark suite: ``python benchmarks/run.py [options]``.

The same as ``wengert bench``; the runner lives in ``wengert/_bench.py`` so
that the installed command finds it.  To regenerate RESULTS.md::

    python benchmarks/run.py --output benchmarks/RESULTS.md --json benchmarks/results.json

``--quick`` checks every workload once in-process; ``--only W1,W3`` and
``--impls hand,wengert,torch`` pick a subset; ``--help`` lists the rest.
"""

import os
import sys

try:
    from wengert._bench import main
except ImportError:  # a source checkout that is not installed
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
    from wengert._bench import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="python benchmarks/run.py"))
