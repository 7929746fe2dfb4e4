"""The notebooks at a learner's pace: `pytest --nbval --learner-pace 6 notebooks/` waits six
seconds before each code cell after a notebook's first, as a learner reading the prose
between two cells would, so that a demo whose output depends on how fast cells follow each
other fails its comparison. Sleeping costs no CPU: `make test` runs the notebooks side by
side (`-n`, one notebook per process with `--dist loadfile`)."""

from __future__ import annotations

import time

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--learner-pace",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long before each notebook code cell after the first",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    pace = item.config.getoption("--learner-pace")
    if pace and getattr(item, "cell_num", 0) > 0 and item.path.suffix == ".ipynb":
        time.sleep(pace)
