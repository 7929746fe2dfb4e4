"""A check's verdict: printed once, true or false for code, nothing more in a notebook, and
in the language `use_language` chose."""

from __future__ import annotations

import pytest
from IPython.core.formatters import DisplayFormatter

from sse_lab.lab import use_language
from sse_lab.lab.exercises import Verdict, unavailable, verdict
from sse_lab.lab.i18n import language


def test_a_verdict_prints_its_line_and_is_true_only_when_passed(capsys) -> None:
    passed, failed = verdict(None, "well done"), verdict("not quite")
    assert capsys.readouterr().out == "✅ well done\n❌ not yet: not quite\n"
    assert passed and not failed
    assert passed == Verdict(True, "✅ well done")


def test_a_verdict_as_a_cells_last_value_shows_nothing_more() -> None:
    data, metadata = DisplayFormatter().format(Verdict(False, "❌ not yet: not quite"))
    assert data == {} and metadata == {}
    assert DisplayFormatter().format(False)[0] == {"text/plain": "False"}  # what a bool shows


def test_a_verdict_speaks_the_language_of_use_language_and_english_by_default(capsys) -> None:
    use_language("zh")
    try:
        verdict("这里还不对")
        unavailable("nginx is not installed")
    finally:
        use_language("en")
    verdict("not quite")
    assert capsys.readouterr().out.splitlines() == [
        "❌ 还没通过：这里还不对",
        "⚠️ 这台机器上运行不了这个检查：nginx is not installed",
        "❌ not yet: not quite",
    ]


def test_only_the_languages_of_the_catalogues_are_offered() -> None:
    with pytest.raises(ValueError, match="no messages in 'fr'"):
        use_language("fr")
    assert language() == "en"
