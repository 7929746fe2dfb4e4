"""`--learner-pace` (conftest.py at the repository's root) makes nbval wait before each code
cell as a learner would: a notebook whose output depends on the pace passes at one pace and
fails at the other."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def code_cell(number: int, source: str, output: str = "") -> dict[str, object]:
    outputs = [{"name": "stdout", "output_type": "stream", "text": [output]}] if output else []
    return {
        "cell_type": "code",
        "execution_count": number,
        "id": f"cell-{number}",
        "metadata": {},
        "outputs": outputs,
        "source": [source],
    }


# Prints "read slowly: True" only when a learner took at least a second between the cells.
PACE_DEPENDENT = {
    "cells": [
        code_cell(1, "import time\nstarted = time.monotonic()"),
        code_cell(
            2, 'print("read slowly:", time.monotonic() - started >= 1)', "read slowly: True\n"
        ),
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def nbval(notebook: Path, pace: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "--nbval", "--nbval-current-env"),
            *("--learner-pace", str(pace), str(notebook)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_notebook_run_at_a_learners_pace_waits_before_each_cell_after_the_first() -> None:
    with tempfile.TemporaryDirectory(dir=ROOT / "tests") as folder:
        notebook = Path(folder) / "pace.ipynb"
        notebook.write_text(json.dumps(PACE_DEPENDENT))
        slow, fast = nbval(notebook, pace=1.5), nbval(notebook, pace=0)
    assert slow.returncode == 0, slow.stdout
    assert fast.returncode == 1 and "read slowly: False" in fast.stdout
