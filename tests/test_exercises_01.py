"""Notebook 01's exercises: each solution passes its check, and the stubs and usual slips fail.

A test that takes `said` runs in English and in Chinese (tests/conftest.py): `said(english,
chinese)` is what the check prints in that run's language."""

from __future__ import annotations

from collections.abc import Callable

from IPython.core.interactiveshell import InteractiveShell

from conftest import SOLUTIONS, load_solution
from sse_lab import ServerSentEvent
from sse_lab.lab.exercises.basics import (
    STATUS_EVENT,
    check_parse_data_events,
    check_predict_events,
    check_status_event,
)


def test_the_prediction_solution_passes(capsys, said) -> None:
    assert check_predict_events(load_solution("01_predict_events").predict_events)
    assert capsys.readouterr().out == said(
        "✅ you read the stream the way a browser does\n", "✅ 你读这个流的方式和浏览器一样\n"
    )


def test_the_prediction_stub_fails_without_raising(capsys, said) -> None:
    assert not check_predict_events(lambda: None)
    assert said("❌ not yet", "❌ 还没通过") in capsys.readouterr().out


def test_predicting_the_unterminated_event_fails(capsys, said) -> None:
    prediction = load_solution("01_predict_events").predict_events()
    assert not check_predict_events(lambda: [*prediction, ("message", "", "lost")])
    assert said("only a blank line dispatches", "只有空行才会派发事件") in capsys.readouterr().out


def test_forgetting_that_the_id_carries_over_fails(capsys, said) -> None:
    prediction = load_solution("01_predict_events").predict_events()
    prediction[1] = ("done", "", "second\npart two")
    assert not check_predict_events(lambda: prediction)
    out = capsys.readouterr().out
    assert said("event 2: you said its id is ''", "事件 2：你说它的 id 是 ''") in out


def test_the_status_event_solution_passes(capsys, said) -> None:
    assert check_status_event(load_solution("01_status_event").status_event)
    assert capsys.readouterr().out == said(
        "✅ a browser would hand this to addEventListener('status', ...)\n",
        "✅ 浏览器会把它交给 addEventListener('status', ...)\n",
    )


def test_the_encoder_writes_bytes_the_status_check_accepts(capsys) -> None:
    assert check_status_event(STATUS_EVENT.encode)
    capsys.readouterr()


def test_the_status_event_stub_fails_without_raising(capsys, said) -> None:
    assert not check_status_event(lambda: None)
    assert said("return bytes", "应返回 bytes") in capsys.readouterr().out


def test_the_empty_status_event_stub_fails_without_raising(capsys, said) -> None:
    assert not check_status_event(lambda: b"")
    assert said("no bytes yet", "还没有返回任何字节") in capsys.readouterr().out


def test_a_status_event_without_its_blank_line_fails(capsys, said) -> None:
    assert not check_status_event(lambda: STATUS_EVENT.encode()[:-1])
    assert said("blank line", "空行") in capsys.readouterr().out


def test_two_lines_of_data_in_one_data_field_fail(capsys, said) -> None:
    one_line = ServerSentEvent(data="searching the web reading 3 pages", event="status", id="42")
    assert not check_status_event(one_line.encode)
    assert said("two `data:` lines", "两个 `data:` 行") in capsys.readouterr().out


def test_the_parser_solution_passes(capsys, said) -> None:
    assert check_parse_data_events(load_solution("01_parse_data_events").parse_data_events)
    assert capsys.readouterr().out == said(
        "✅ your parser agrees with the spec on 9 streams\n",
        "✅ 你的解析器在 9 个流上都和规范一致\n",
    )


def test_the_parser_stub_fails_without_raising(capsys, said) -> None:
    assert not check_parse_data_events(lambda stream: None)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


def test_a_parser_that_strips_every_space_fails(capsys, said) -> None:
    def strips_all(stream: str) -> list[str]:
        blocks = [block for block in stream.split("\n\n") if block.strip()]
        return [block.removeprefix("data:").strip() for block in blocks]

    assert not check_parse_data_events(strips_all)
    assert said("❌ not yet", "❌ 还没通过") in capsys.readouterr().out


def test_a_check_reports_an_exception_instead_of_raising(capsys, said) -> None:
    assert not check_parse_data_events(lambda stream: [stream.split("data: ")[9]])
    assert said("raised IndexError", "抛出了 IndexError") in capsys.readouterr().out


def test_an_id_line_after_the_data_line_is_told_that_order_does_not_matter(capsys, said) -> None:
    prediction = load_solution("01_predict_events").predict_events()
    prediction[0] = ("message", "", "first")  # as if `id: 1` belonged to the next event
    assert not check_predict_events(lambda: prediction)
    out = capsys.readouterr().out
    assert said("event 1: you said its id is ''", "事件 1：你说它的 id 是 ''") in out
    assert (
        said(
            "the order of the lines within an event does not matter",
            "一个事件内部各行的顺序无关紧要",
        )
        in out
    )


def parser_cutting(prefix: str) -> Callable[[str], list[str]]:
    """A parser that takes a data line to be `prefix` and the data, as a learner might."""

    def parse_data_events(stream: str) -> list[str]:
        events, lines = [], []
        for line in stream.split("\n")[:-1]:
            if line == "" and lines:
                events.append("\n".join(lines))
                lines = []
            elif line.startswith(prefix):
                lines.append(line[len(prefix) :])
        return events

    return parse_data_events


def test_a_parser_that_keeps_the_optional_space_is_told_to_remove_it(capsys, said) -> None:
    assert not check_parse_data_events(parser_cutting("data:"))  # as if every line were data:hi
    out = capsys.readouterr().out
    assert said("remove the one space after the colon", "冒号后面如果有空格，去掉一个") in out


def test_a_parser_that_needs_the_space_is_told_it_is_optional(capsys, said) -> None:
    assert not check_parse_data_events(parser_cutting("data: "))
    assert "'data:no space\\n\\n'" in (out := capsys.readouterr().out)
    assert said("the space after the colon is optional", "冒号后面的空格可有可无") in out


def test_a_status_event_without_the_optional_spaces_passes(capsys) -> None:
    tight = b"event:status\nid:42\ndata:searching the web\ndata:reading 3 pages\n\n"
    assert check_status_event(lambda: tight)
    capsys.readouterr()


def test_two_spaces_after_data_are_told_only_one_is_dropped(capsys, said) -> None:
    spaced = b"event: status\nid: 42\ndata:  searching the web\ndata: reading 3 pages\n\n"
    assert not check_status_event(lambda: spaced)
    out = capsys.readouterr().out
    assert said("the data is ", "数据是 ") + "' searching the web\\nreading 3 pages'" in out
    assert (
        said("only the one space after `data:` is dropped", "只有 `data:` 后面的一个空格会被去掉")
        in out
    )
    assert said("data starts with a space", "数据就以一个空格开头") in out


def test_a_type_field_instead_of_event_is_told_the_field_name(capsys, said) -> None:
    typed = b"type: status\nid: 42\ndata: searching the web\ndata: reading 3 pages\n\n"
    assert not check_status_event(lambda: typed)
    out = capsys.readouterr().out
    assert (
        said("the event type is 'message', not 'status'", "事件类型是 'message'，不是 'status'")
        in out
    )
    assert (
        said("a parser ignores the line 'type: status'", "解析器会忽略 'type: status' 这一行")
        in out
    )
    assert said("an event's type goes in an `event:` line", "事件类型要写在 `event:` 行里") in out


def check_in(shell: InteractiveShell) -> object:
    """Run the notebook's check cell in the shell: the Verdict."""
    check = "from sse_lab.lab.exercises.basics import check_parse_data_events\n"
    shell.run_cell(check + "verdict = check_parse_data_events(parse_data_events)", True)
    return shell.user_ns["verdict"]


PARSER = (SOLUTIONS / "01_parse_data_events.py").read_text()


def test_a_parser_whose_latest_cell_did_not_compile_is_told_so(shell, capsys, said) -> None:
    assert shell.run_cell(PARSER, store_history=True).success
    broken = PARSER.replace("    events: list[str] = []", "  events: list[str] = []")
    assert not shell.run_cell(broken, store_history=True).success  # an IndentationError
    assert not check_in(shell)
    out = capsys.readouterr().out
    assert (
        said(
            "your latest cell defining parse_data_events did not run (IndentationError",
            "你最近一个定义 parse_data_events 的单元格没有运行成功（IndentationError",
        )
        in out
    )
    assert said("fix that cell and run it again", "改好那个单元格再运行一次") in out


def test_a_parser_fixed_after_a_cell_that_did_not_compile_passes(shell, capsys, said) -> None:
    assert not shell.run_cell("def parse_data_events(stream):\n    return [\n", True).success
    assert shell.run_cell(PARSER, store_history=True).success
    assert check_in(shell)
    assert said("✅ your parser agrees", "✅ 你的解析器") in capsys.readouterr().out
