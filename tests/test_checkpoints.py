"""Checkpoints: one cell that brings a notebook's state up to a section, for a learner who
fell behind. Each is run in a fresh kernel, followed by the notebook's own cells from its
section on (to the next checkpoint, or the end): they must all run without an error.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHECKPOINTS = NOTEBOOKS / "checkpoints"
# The English notebooks: a Chinese one runs the same code cells (tests/test_translations.py).
PATHS = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb") if not p.name.endswith(".zh.ipynb"))
HEADER = re.compile(r'^# Checkpoint: (?P<notebook>\S+), up to "(?P<heading>.+)"$', re.MULTILINE)


def checkpoints_of(notebook: str) -> dict[str, Path]:
    """The checkpoints made for a notebook: the heading of the section each leads to."""
    found = {}
    for path in sorted(CHECKPOINTS.glob("*.py")):
        header = HEADER.search(path.read_text())
        assert header, f"{path.name} does not say which notebook and section it is for"
        if header["notebook"] == notebook:
            found[header["heading"]] = path
    return found


def section_start(cells: list[nbformat.NotebookNode], heading: str) -> int:
    starts = [
        i
        for i, cell in enumerate(cells)
        if cell.cell_type == "markdown" and heading in cell.source.splitlines()
    ]
    assert len(starts) == 1, f"no single section {heading!r}"
    return starts[0]


def test_every_notebook_has_a_checkpoint_and_every_checkpoint_a_notebook() -> None:
    names = {path.stem for path in PATHS}
    headers = [HEADER.search(path.read_text()) for path in CHECKPOINTS.glob("*.py")]
    assert {header["notebook"] for header in headers if header} == names


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_from_each_checkpoint_the_rest_of_the_notebook_runs(path: Path) -> None:
    cells = nbformat.read(path, as_version=4).cells
    checkpoints = checkpoints_of(path.stem)
    starts = sorted((section_start(cells, heading), file) for heading, file in checkpoints.items())
    run = []
    for n, (start, checkpoint) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(cells)
        run.append(nbformat.v4.new_code_cell(checkpoint.read_text(), metadata={"checkpoint": 1}))
        for cell in cells[start:end]:
            if cell.cell_type == "code":
                tags = ["raises-exception"] if "NBVAL_RAISES_EXCEPTION" in cell.source else []
                run.append(nbformat.v4.new_code_cell(cell.source, metadata={"tags": tags}))
    notebook = nbformat.v4.new_notebook(cells=run)
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": NOTEBOOKS}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on an error

    for cell in notebook.cells:
        if cell.metadata.get("checkpoint"):
            printed = "".join(output.get("text", "") for output in cell.outputs)
            assert "caught up: the lab server runs at http://127.0.0.1:" in printed
