"""A check's verdict: printed once, true or false for code, and nothing more in a notebook."""

from __future__ import annotations

from IPython.core.formatters import DisplayFormatter

from sse_lab.lab.exercises import Verdict, verdict


def test_a_verdict_prints_its_line_and_is_true_only_when_passed(capsys) -> None:
    passed, failed = verdict(None, "well done"), verdict("not quite")
    assert capsys.readouterr().out == "✅ well done\n❌ not yet: not quite\n"
    assert passed and not failed
    assert passed == Verdict(True, "✅ well done")


def test_a_verdict_as_a_cells_last_value_shows_nothing_more() -> None:
    data, metadata = DisplayFormatter().format(Verdict(False, "❌ not yet: not quite"))
    assert data == {} and metadata == {}
    assert DisplayFormatter().format(False)[0] == {"text/plain": "False"}  # what a bool shows
