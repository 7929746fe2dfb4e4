"""The encoder: ServerSentEvent.encode, encode_comment and encode_retry write the wire format."""

from __future__ import annotations

import pytest

from sse_lab.sse import EventStreamParser, ServerSentEvent, encode_comment, encode_retry


def test_a_plain_event_is_one_data_line_and_a_blank_line() -> None:
    assert ServerSentEvent(data='{"delta": "Hi"}').encode() == b'data: {"delta": "Hi"}\n\n'


def test_event_type_and_id_come_before_the_data() -> None:
    event = ServerSentEvent(data="{}", event="done", id="7")
    assert event.encode() == b"event: done\nid: 7\ndata: {}\n\n"


def test_the_default_event_type_writes_no_event_field() -> None:
    assert ServerSentEvent(data="x", event="message").encode() == b"data: x\n\n"
    assert ServerSentEvent(data="x", event="").encode() == b"data: x\n\n"


@pytest.mark.parametrize("line_break", ["\r", "\n", "\r\n"], ids=["CR", "LF", "CRLF"])
def test_multi_line_data_becomes_one_data_line_per_line(line_break: str) -> None:
    event = ServerSentEvent(data=f"one{line_break}two{line_break}")
    assert event.encode() == b"data: one\ndata: two\ndata\n\n"


def test_empty_data_is_sent_as_an_event_with_empty_data() -> None:
    wire = ServerSentEvent(data="").encode()
    assert wire == b"data\n\n"
    assert [event.data for event in EventStreamParser().feed(wire)] == [""]


def test_id_none_writes_no_id_field_and_empty_id_writes_a_reset() -> None:
    assert b"id" not in ServerSentEvent(data="x", id=None).encode()
    wire = ServerSentEvent(data="a", id="1").encode() + ServerSentEvent(data="b", id="").encode()
    assert [event.id for event in EventStreamParser().feed(wire)] == ["1", ""]


@pytest.mark.parametrize("event_type", ["a\nb", "a\rb", "done\r\n"])
def test_an_event_type_with_a_line_break_is_refused(event_type: str) -> None:
    with pytest.raises(ValueError, match="event type must not contain CR or LF"):
        ServerSentEvent(data="x", event=event_type).encode()


@pytest.mark.parametrize("event_id", ["1\n2", "1\r", "\r\n", "7\x00"])
def test_an_id_with_a_line_break_or_null_is_refused(event_id: str) -> None:
    with pytest.raises(ValueError, match="event id must not contain CR, LF or NULL"):
        ServerSentEvent(data="x", id=event_id).encode()


def test_retry_is_written_in_whole_milliseconds() -> None:
    assert encode_retry(1500) == b"retry: 1500\n"
    assert ServerSentEvent(data="x", retry=0).encode() == b"retry: 0\ndata: x\n\n"
    parser = EventStreamParser()
    parser.feed(encode_retry(2500))
    assert parser.retry == 2500


def test_a_lone_retry_leaves_a_carried_last_event_id_alone() -> None:
    # A reconnected stream that opens with `retry:` must not lose the id the client had.
    parser = EventStreamParser(last_event_id="41")
    assert parser.feed(encode_retry(100) + b": hello\n\n") == []
    assert parser.last_event_id == "41"
    (event,) = parser.feed(b"data: next\n\n")
    assert event.id == "41"


@pytest.mark.parametrize("milliseconds", [-1, True, 1.5, "100", None])
def test_retry_other_than_a_whole_number_is_refused(milliseconds: object) -> None:
    with pytest.raises(ValueError, match="whole number of milliseconds"):
        encode_retry(milliseconds)  # type: ignore[arg-type]


def test_a_negative_retry_on_an_event_is_refused() -> None:
    with pytest.raises(ValueError, match="whole number of milliseconds"):
        ServerSentEvent(data="x", retry=-5).encode()


def test_a_heartbeat_comment() -> None:
    assert encode_comment("ping") == b": ping\n"
    assert encode_comment() == b":\n"


@pytest.mark.parametrize("text", ["a\nb\r\nc", "a\rb\nc"])
def test_a_multi_line_comment_is_several_comment_lines(text: str) -> None:
    assert encode_comment(text) == b": a\n: b\n: c\n"


def test_comments_inside_an_event_leave_it_unchanged() -> None:
    wire = b"data: a\n" + encode_comment("keep\nalive") + b"data: b\n\n"
    assert [event.data for event in EventStreamParser().feed(wire)] == ["a\nb"]
