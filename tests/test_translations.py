"""The Chinese notebooks keep to the English ones (sse_lab/lab/translate.py, `make zh`).

Every markdown cell of an English notebook has a current translation in
notebooks/locale/zh/<stem>.po (not empty, not fuzzy, made from today's English), no message
is left for a cell that is gone, each notebooks/<stem>.zh.ipynb is what the build makes from
today's English notebook and catalogue, and its code is its twin's, one language cell first.
The same checks, run on a copy whose English changed, show what fails and what `make zh`
then does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sse_lab.lab import translate
from sse_lab.lab.translate import (
    LANGUAGE_CELL_ID,
    Layout,
    build,
    build_problems,
    built,
    catalogue_problems,
    code_problems,
    markup_problems,
    needs_run,
    read_catalogue,
    read_notebook,
    render_catalogue,
)

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = Layout(ROOT)
STEMS = LAYOUT.stems()
# The notebooks translated so far (all of them, or the first test fails): the other tests
# check what there is.
TRANSLATED = [stem for stem in STEMS if LAYOUT.catalogue_path(stem).exists()]
BUILT = [stem for stem in TRANSLATED if LAYOUT.chinese_path(stem).exists()]


def test_the_english_notebooks_are_the_eight_of_the_workbook() -> None:
    assert [stem[:2] for stem in STEMS] == ["00", "01", "02", "03", "04", "05", "06", "07", "08"]


@pytest.mark.parametrize("stem", STEMS)
def test_each_english_notebook_has_a_catalogue_and_a_chinese_twin(stem: str) -> None:
    assert LAYOUT.catalogue_path(stem).is_file(), "write it with `make zh`, then translate it"
    assert LAYOUT.chinese_path(stem).is_file(), "build it with `make zh`"


@pytest.mark.parametrize("stem", TRANSLATED)
def test_every_markdown_cell_has_a_current_translation_and_no_other_message(stem: str) -> None:
    english = read_notebook(LAYOUT.english_path(stem))
    catalogue = read_catalogue(LAYOUT.catalogue_path(stem))
    assert catalogue_problems(english, catalogue, f"{stem}.po") == []


@pytest.mark.parametrize("stem", BUILT)
def test_the_chinese_notebook_is_what_make_zh_builds(stem: str) -> None:
    english = read_notebook(LAYOUT.english_path(stem))
    chinese = read_notebook(LAYOUT.chinese_path(stem))
    expected = built(english, read_catalogue(LAYOUT.catalogue_path(stem)), chinese)
    assert build_problems(chinese, expected, f"{stem}.zh.ipynb") == []


@pytest.mark.parametrize("stem", BUILT)
def test_its_code_is_its_english_twins_after_one_language_cell(stem: str) -> None:
    english = read_notebook(LAYOUT.english_path(stem))
    chinese = read_notebook(LAYOUT.chinese_path(stem))
    assert code_problems(english, chinese, f"{stem}.zh.ipynb") == []
    assert chinese.cells[0].id == LANGUAGE_CELL_ID
    assert 'use_language("zh")' in chinese.cells[0].source


def test_no_catalogue_or_chinese_notebook_is_left_without_its_english_notebook() -> None:
    assert translate.orphan_problems(LAYOUT) == []


# What fails, and what `make zh` does about it: on a copy of notebook 00.


@pytest.fixture
def copy(tmp_path: Path) -> Layout:
    """A checkout with notebook 00, its catalogue and its Chinese twin (and the package, for
    the command line's check of the messages)."""
    layout = Layout(tmp_path)
    for path in (
        LAYOUT.english_path("00-welcome"),
        LAYOUT.chinese_path("00-welcome"),
        LAYOUT.catalogue_path("00-welcome"),
    ):
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    (tmp_path / "sse_lab").symlink_to(LAYOUT.package)
    return layout


def edit_english(layout: Layout, cell_id: str, change) -> None:
    """Change one cell of the copy's English notebook 00 (`change(source) -> source`)."""
    path = layout.english_path("00-welcome")
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["id"] == cell_id:
            cell["source"] = change("".join(cell["source"]))
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def problems_of(layout: Layout) -> list[str]:
    return translate.notebook_problems(layout, "00-welcome")


def run_update(layout: Layout) -> None:
    assert translate.main(["--root", str(layout.root), "update", "00-welcome"]) == 0


def test_the_copy_is_in_step(copy: Layout) -> None:
    assert problems_of(copy) == []
    assert translate.main(["--root", str(copy.root), "check"]) == 0


def test_a_changed_english_cell_fails_until_its_translation_follows(copy: Layout) -> None:
    edit_english(copy, "cell-10", lambda source: source.replace("300 ms", "250 ms"))
    assert problems_of(copy) == [
        "notebooks/locale/zh/00-welcome.po: cell cell-10 changed since its message was written",
        "notebooks/00-welcome.zh.ipynb: cell cell-10 is not what `make zh` builds",
    ]
    assert translate.main(["--root", str(copy.root), "check"]) == 1

    run_update(copy)  # the old translation stays, fuzzy, with the English it was made from
    message = translate.by_cell(read_catalogue(copy.catalogue_path("00-welcome")))["cell-10"]
    assert message.fuzzy and "250 ms" in message.id and "300 ms" in message.previous_id[0]
    assert "300 毫秒" in message.string
    assert "`make zh` builds" in problems_of(copy)[-1]
    assert "cell cell-10's translation is fuzzy" in problems_of(copy)[0]
    build(copy, "00-welcome")  # a translation not current: the cell reads in English
    cell = next(
        c for c in read_notebook(copy.chinese_path("00-welcome")).cells if c.id == "cell-10"
    )
    assert "250 ms" in cell.source

    catalogue = read_catalogue(copy.catalogue_path("00-welcome"))
    message = translate.by_cell(catalogue)["cell-10"]
    message.string = message.string.replace("300 毫秒", "250 毫秒")
    message.flags.discard("fuzzy")
    copy.catalogue_path("00-welcome").write_bytes(render_catalogue(catalogue))
    build(copy, "00-welcome")
    assert problems_of(copy) == []


def test_a_new_cell_gets_an_empty_message_and_a_deleted_cell_loses_its_own(copy: Layout) -> None:
    path = copy.english_path("00-welcome")
    notebook = json.loads(path.read_text())
    cells = notebook["cells"]
    index = next(n for n, cell in enumerate(cells) if cell["id"] == "cell-19")
    cells[index] = {**cells[index], "id": "cell-19b", "source": ["A new paragraph."]}
    path.write_text(json.dumps(notebook, indent=1) + "\n")
    assert problems_of(copy)[:2] == [
        "notebooks/locale/zh/00-welcome.po: no message for cell cell-19b",
        "notebooks/locale/zh/00-welcome.po: a message for cell cell-19, which the notebook no "
        "longer has",
    ]

    run_update(copy)
    messages = translate.by_cell(read_catalogue(copy.catalogue_path("00-welcome")))
    assert "cell-19" not in messages
    assert messages["cell-19b"].id == "A new paragraph." and messages["cell-19b"].string == ""
    assert list(messages) == [cell_id for cell_id, _ in translate.prose_cells(read_notebook(path))]
    assert (
        problems_of(copy)[0] == "notebooks/locale/zh/00-welcome.po: cell cell-19b is not translated"
    )


def test_a_cell_whose_id_changed_keeps_its_translation(copy: Layout) -> None:
    path = copy.english_path("00-welcome")
    path.write_text(path.read_text().replace('"id": "cell-10"', '"id": "cell-10-renamed"'))
    run_update(copy)
    messages = translate.by_cell(read_catalogue(copy.catalogue_path("00-welcome")))
    assert "300 毫秒" in messages["cell-10-renamed"].string
    assert not messages["cell-10-renamed"].fuzzy


def test_a_prose_change_keeps_the_outputs_of_the_code_cells(copy: Layout) -> None:
    catalogue = read_catalogue(copy.catalogue_path("00-welcome"))
    translate.by_cell(catalogue)["cell-10"].string += "（三个事件。）"
    copy.catalogue_path("00-welcome").write_bytes(render_catalogue(catalogue))
    before = read_notebook(copy.chinese_path("00-welcome"))
    assert build(copy, "00-welcome")
    after = read_notebook(copy.chinese_path("00-welcome"))
    assert [c for c in after.cells if c.cell_type == "code"] == [
        c for c in before.cells if c.cell_type == "code"
    ]
    assert not needs_run(copy.chinese_path("00-welcome")) and problems_of(copy) == []


def test_a_code_change_shows_in_the_chinese_notebook_and_asks_for_a_run(copy: Layout) -> None:
    edit_english(copy, "cell-09", lambda source: source.replace('"alice"', '"bob"'))
    assert problems_of(copy) == [
        "notebooks/00-welcome.zh.ipynb: code cell cell-09 is not its English twin's (cell-09)",
        "notebooks/00-welcome.zh.ipynb: cell cell-09 is not what `make zh` builds",
    ]
    assert build(copy, "00-welcome")
    chinese = read_notebook(copy.chinese_path("00-welcome"))
    cell = next(c for c in chinese.cells if c.id == "cell-09")
    assert cell.source == 'print(lab.auth_header("bob"))' and cell.outputs == []
    assert needs_run(copy.chinese_path("00-welcome"))  # `make zh` runs it (build --execute)
    assert problems_of(copy) == []


def test_code_edited_in_the_chinese_notebook_is_refused(copy: Layout) -> None:
    path = copy.chinese_path("00-welcome")
    path.write_text(path.read_text().replace("import httpx", "import httpx  # 中文注释"))
    assert problems_of(copy) == [
        "notebooks/00-welcome.zh.ipynb: code cell cell-11 is not its English twin's (cell-11)",
        "notebooks/00-welcome.zh.ipynb: cell cell-11 is not what `make zh` builds",
    ]


def test_a_translation_keeps_the_markup_of_its_english() -> None:
    english = (
        "## 1. Start\n\nRun `start_server()`, then see [notebook 01](01-sse-basics.ipynb) "
        "and [the guide](../docs/workshop.md).\n\n```bash\nmake lab   # opens JupyterLab\n```\n"
    )
    good = (
        "## 1. 开始\n\n运行 `start_server()`，然后看[笔记本 01](01-sse-basics.zh.ipynb)和"
        "[指南](../docs/workshop.zh.md)。\n\n```bash\nmake lab   # 打开 JupyterLab\n```\n"
    )
    assert markup_problems(english, good) == []
    assert markup_problems(english, good.replace("`start_server()`", "start_server()")) == [
        "code spans missing: `start_server()`"
    ]
    assert markup_problems(english, good.replace("01-sse-basics.zh", "01-sse-basics")) == [
        "link targets missing: 01-sse-basics.zh.ipynb"
    ]
    assert markup_problems(english, good.replace("make lab ", "make test")) == [
        "a code block differs beyond its comments: '```bash'..."
    ]
    assert markup_problems(english, good.replace("## 1.", "### 1.")) == [
        "headings of levels [2] in English, [3] translated"
    ]
