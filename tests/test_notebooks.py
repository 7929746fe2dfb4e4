"""The workbook's house rules, checked on the stored notebooks, English and Chinese (nbval
checks their outputs; tests/test_translations.py that a Chinese one is its English twin's
code with translated prose)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))  # NN-name.ipynb and NN-name.zh.ipynb
ENGLISH = [path for path in PATHS if not path.name.endswith(".zh.ipynb")]


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def test_the_workbook_has_its_nine_notebooks_in_teaching_order() -> None:
    assert [path.name[:2] for path in ENGLISH] == [f"{n:02d}" for n in range(9)]


def test_the_chinese_notebooks_are_twins_of_english_ones() -> None:
    chinese = {path.name.removesuffix(".zh.ipynb") for path in PATHS if path not in ENGLISH}
    assert chinese <= {path.stem for path in ENGLISH}


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_every_code_cell_is_stored_executed(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    unrun = [
        i
        for i, cell in enumerate(cells)
        if cell["cell_type"] == "code" and not cell.get("execution_count")
    ]
    assert unrun == [], f"cells {unrun} were stored without being run"


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_at_most_one_code_cell_in_five_ignores_its_output_and_none_is_skipped(path: Path) -> None:
    sources = code_cells(path)
    ignored = sum("NBVAL_IGNORE_OUTPUT" in source for source in sources)
    assert ignored * 5 <= len(sources)
    assert not any("NBVAL_SKIP" in source for source in sources)


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_each_notebook_has_two_exercises_whose_solutions_exist(path: Path) -> None:
    loads = re.findall(r"%load (solutions/\S+\.py)", "\n".join(code_cells(path)))
    assert len(loads) >= 2
    assert all((NOTEBOOKS / solution).is_file() for solution in loads)


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_notebooks_use_only_public_names_of_the_package(path: Path) -> None:
    private = re.findall(
        r"sse_lab[\w.]*\._\w+|from sse_lab[\w.]* import [^\n]*\b_\w+", path.read_text()
    )
    assert private == []


CHECK_CALL = re.compile(r"^(await )?check_\w+\(", re.MULTILINE)


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.stem)
def test_a_check_cell_shows_its_verdict_and_nothing_under_it(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    checks = [cell for cell in cells if CHECK_CALL.search("".join(cell["source"]))]
    assert checks, "every notebook has exercises with check cells"
    for cell in checks:
        shown = [
            "".join(output.get("text", "")) or str(output.get("data")) for output in cell["outputs"]
        ]
        assert len(shown) == 1 and shown[0].startswith(("✅", "❌")), (
            f"a check cell should show its verdict alone, not {shown}"
        )
