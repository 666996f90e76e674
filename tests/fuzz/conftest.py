"""The long fuzz run is opt-in: `pytest tests/fuzz --run-fuzz-long` or WENGERT_FUZZ_LONG=1."""

import os

import pytest


def pytest_addoption(parser):
    try:
        parser.addoption("--run-fuzz-long", action="store_true", default=False,
                         help="run the tests marked fuzz_long (the long random-program run)")
    except ValueError:  # already added
        pass


def _long_enabled(config) -> bool:
    try:
        opt = config.getoption("--run-fuzz-long")
    except ValueError:
        opt = False
    return bool(opt) or os.environ.get("WENGERT_FUZZ_LONG", "") not in ("", "0")


def pytest_collection_modifyitems(config, items):
    if _long_enabled(config):
        return
    skip = pytest.mark.skip(reason="long fuzz run: pass --run-fuzz-long (pytest tests/fuzz) or set WENGERT_FUZZ_LONG=1")
    for item in items:
        if "fuzz_long" in item.keywords:
            item.add_marker(skip)
