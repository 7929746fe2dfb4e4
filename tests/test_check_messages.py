"""The checks' messages in Chinese: sse_lab/locale/zh/LC_MESSAGES/sse_lab.po translates every
message the code wraps in `_()` or `N_()` (extracted again here, as `make zh` and `pybabel
extract` do), with the same placeholders, and the compiled .mo that gettext reads is that
catalogue. On a copy of the package, a new message in the code is caught, and `make zh` adds
it to be translated."""

from __future__ import annotations

import gettext
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sse_lab.lab import i18n
from sse_lab.lab.translate import (
    Layout,
    extracted,
    message_problems,
    read_catalogue,
    render_catalogue,
    update_messages,
)

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = Layout(ROOT)


def test_every_message_of_the_checks_has_its_chinese_and_the_catalogue_is_current() -> None:
    assert message_problems(LAYOUT) == []


def test_pybabel_extract_finds_the_messages_of_the_template(tmp_path: Path) -> None:
    pybabel = Path(sys.executable).with_name("pybabel")
    fresh = tmp_path / "sse_lab.pot"
    subprocess.run(
        [str(pybabel), "--quiet", "extract", "-o", str(fresh), str(LAYOUT.package)], check=True
    )
    ids = {message.id for message in read_catalogue(fresh) if message.id}
    assert ids == {message.id for message in read_catalogue(LAYOUT.messages_template) if message.id}


def test_the_checks_wrap_their_messages() -> None:
    found = {message.id for message in extracted(LAYOUT.package) if message.id}
    assert len(found) > 200
    assert "not yet: {problem}" in found and "{problem} (hint: {hint})" in found


def test_the_compiled_messages_are_the_catalogues() -> None:
    mo = i18n.LOCALE_DIR / "zh" / "LC_MESSAGES" / "sse_lab.mo"
    assert mo.is_file(), "compile it: `make test` (pybabel compile)"
    with mo.open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    stale = [
        message.id
        for message in read_catalogue(LAYOUT.messages_catalogue)
        if message.id and compiled.gettext(str(message.id)) != message.string
    ]
    assert stale == [], "the .mo is older than the .po: `make test` compiles it again"


def test_use_language_switches_the_messages_and_english_is_the_default() -> None:
    assert i18n.language() == "en" and i18n._("not yet: {problem}") == "not yet: {problem}"
    i18n.use_language("zh")
    try:
        assert i18n._("not yet: {problem}") == "还没通过：{problem}"
        assert i18n.N_("a gap") == "a gap"  # marked, not translated, where it is defined
    finally:
        i18n.use_language("en")
    assert i18n._("not yet: {problem}") == "not yet: {problem}"


@pytest.fixture
def copy(tmp_path: Path) -> Layout:
    """A copy of the package (its code and catalogues) to change."""
    shutil.copytree(LAYOUT.package, tmp_path / "sse_lab", ignore=shutil.ignore_patterns("*.pyc"))
    return Layout(tmp_path)


def test_a_new_message_in_the_code_fails_until_it_is_translated(copy: Layout) -> None:
    module = copy.package / "lab" / "exercises" / "welcome.py"
    module.write_text(module.read_text() + '\n\nNEW = _("a hint added since")\n')
    assert message_problems(copy) == [
        "sse_lab/locale/zh/LC_MESSAGES/sse_lab.po: lacks 'a hint added since': run `make zh`",
        "sse_lab/locale/sse_lab.pot is stale: run `make zh`",
    ]

    assert update_messages(copy) == [copy.messages_template, copy.messages_catalogue]
    assert message_problems(copy) == [
        "sse_lab/locale/zh/LC_MESSAGES/sse_lab.po: 'a hint added since' is not translated"
    ]
    assert update_messages(copy) == []  # nothing changed: nothing written


def test_a_changed_message_keeps_its_old_translation_as_fuzzy(copy: Layout) -> None:
    module = copy.package / "lab" / "exercises" / "welcome.py"
    module.write_text(module.read_text().replace("in 0.4 s", "in 0.40 s"))
    update_messages(copy)
    catalogue = read_catalogue(copy.messages_catalogue)
    message = catalogue.get("4 tokens came after the first, in 0.40 s")
    assert message.fuzzy and message.previous_id == ["4 tokens came after the first, in 0.4 s"]
    assert message.string == "第一个 token 之后又来了 4 个，用了 0.4 秒"
    assert catalogue.get("4 tokens came after the first, in 0.4 s") is None
    assert message_problems(copy) == [
        "sse_lab/locale/zh/LC_MESSAGES/sse_lab.po: '4 tokens came after the first, in 0.40 s'"
        "'s translation is fuzzy"
    ]


def test_a_translation_that_renames_a_placeholder_is_caught(copy: Layout) -> None:
    catalogue = read_catalogue(copy.messages_catalogue)
    catalogue.get("not yet: {problem}").string = "还没通过：{问题}"
    copy.messages_catalogue.write_bytes(render_catalogue(catalogue))
    assert message_problems(copy) == [
        "sse_lab/locale/zh/LC_MESSAGES/sse_lab.po: 'not yet: {problem}' and its translation "
        "differ in placeholders"
    ]
