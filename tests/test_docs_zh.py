"""The Chinese editions (README.zh.md, docs/workshop.zh.md) and the glossary keep to the English
ones where a machine can tell: the same notebooks, make targets and checkpoints, and links
that lead to files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README, README_ZH = ROOT / "README.md", ROOT / "README.zh.md"
WORKSHOP, WORKSHOP_ZH = ROOT / "docs" / "workshop.md", ROOT / "docs" / "workshop.zh.md"
GLOSSARY = ROOT / "docs" / "glossary.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def section(markdown: str, heading: str) -> str:
    """The text under a `## heading`, up to the next heading of that level."""
    start = markdown.index(f"## {heading}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else None]


def test_the_chinese_readme_names_every_notebook_and_make_target_of_the_english_one() -> None:
    english = README.read_text()
    text = section(english, "Two commands") + section(english, "The learning path")
    notebooks = set(re.findall(r"`(\d\d-[a-z0-9-]+)`", text))
    targets = set(re.findall(r"make (\w+)", text))
    assert len(notebooks) == 9 and {"lab", "test"} <= targets
    chinese = README_ZH.read_text()
    assert [name for name in sorted(notebooks) if name not in chinese] == []
    assert [target for target in sorted(targets) if f"make {target}" not in chinese] == []


def test_the_chinese_workshop_guide_names_every_checkpoint_of_the_english_one() -> None:
    checkpoints = set(re.findall(r"checkpoints/\w+\.py", WORKSHOP.read_text()))
    assert len(checkpoints) == len(list((ROOT / "notebooks" / "checkpoints").glob("*.py")))
    chinese = WORKSHOP_ZH.read_text()
    assert [name for name in sorted(checkpoints) if name not in chinese] == []


@pytest.mark.parametrize("page", [README_ZH, WORKSHOP_ZH, GLOSSARY], ids=lambda page: page.name)
def test_every_relative_link_leads_to_a_file(page: Path) -> None:
    targets = [
        target.split("#")[0]
        for target in LINK.findall(page.read_text())
        if not re.match(r"[a-z]+:|#", target)
    ]
    assert targets, f"{page.name} links to nothing"
    missing = [target for target in targets if not (page.parent / target).exists()]
    assert missing == []


def test_both_editions_link_to_each_other_and_to_the_glossary() -> None:
    assert "(README.zh.md)" in README.read_text() and "(docs/glossary.md)" in README.read_text()
    assert "(README.md)" in README_ZH.read_text() and "(docs/glossary.md)" in README_ZH.read_text()
    for guide in (WORKSHOP, WORKSHOP_ZH):
        assert "(glossary.md)" in guide.read_text(), guide.name
