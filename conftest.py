"""The notebooks at a learner's pace: `pytest --nbval --learner-pace 6 notebooks/` waits six
seconds before each code cell after a notebook's first, as a learner reading the prose
between two cells would, so that a demo whose output depends on how fast cells follow each
other fails its comparison. Sleeping costs no CPU: `make test` runs the notebooks side by
side (`-n`, one notebook per process with `--dist loadfile`).

A kernel that dies while starting is started again, up to twice: jupyter_client picks a
kernel's five TCP ports by binding port 0 and letting go, and the kernel binds them a moment
later, so with eight kernels starting at once beside notebooks that open connections by the
thousand, another socket can take one of them first ("Kernel died before replying to
kernel_info"). nbval calls `nbval.kernel.start_new_kernel` for each notebook; this wraps it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import nbval.kernel
import pytest

KERNEL_STARTS = 3
_start_new_kernel = nbval.kernel.start_new_kernel


def start_new_kernel(*args: Any, **kwargs: Any) -> Any:
    """nbval's `start_new_kernel`, tried again if the kernel dies while starting."""
    for attempt in range(1, KERNEL_STARTS):
        try:
            return _start_new_kernel(*args, **kwargs)
        except RuntimeError:
            logging.getLogger("nbval").warning("kernel start %d failed; starting it again", attempt)
    return _start_new_kernel(*args, **kwargs)


nbval.kernel.start_new_kernel = start_new_kernel


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
