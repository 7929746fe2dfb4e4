"""`--learner-pace` (conftest.py at the repository's root) makes nbval wait before each code
cell as a learner would: a notebook whose output depends on the pace passes at one pace and
fails at the other."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from nbval import kernel as nbval_kernel

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


def test_a_kernel_that_dies_while_starting_is_started_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(nbval_kernel, "start_new_kernel", nbval_kernel.start_new_kernel)
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    assert spec is not None and spec.loader is not None
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)  # wraps nbval's start_new_kernel (undone after)
    starts: list[str] = []

    def dies_once(kernel_name: str) -> tuple[str, str]:
        starts.append(kernel_name)
        if len(starts) == 1:  # as when another socket took one of its ports first
            raise RuntimeError("Kernel died before replying to kernel_info")
        return "manager", "client"

    monkeypatch.setattr(root_conftest, "_start_new_kernel", dies_once)
    assert nbval_kernel.start_new_kernel(kernel_name="python3") == ("manager", "client")
    assert starts == ["python3", "python3"]

    def always_dies(kernel_name: str) -> tuple[str, str]:
        starts.append(kernel_name)
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(root_conftest, "_start_new_kernel", always_dies)
    with pytest.raises(RuntimeError, match="Kernel died"):
        nbval_kernel.start_new_kernel(kernel_name="python3")
    assert len(starts) == 2 + root_conftest.KERNEL_STARTS  # then it gives up
