"""EventStreamParser against the WHATWG rules for interpreting an event stream.

Each rule is checked on the stream fed whole, byte by byte, and cut in two at every
position: the chunks a network delivers must never change what a reader sees.
https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sse_lab.sse import EventStreamParser, ServerSentEvent

BOM = "\ufeff".encode()


class Parsed(NamedTuple):
    events: list[ServerSentEvent]
    last_event_id: str
    retry: int | None


def feed_all(chunks: list[bytes]) -> Parsed:
    """Feed `chunks` to a new parser: the events and the state it ends with."""
    parser = EventStreamParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return Parsed(events, parser.last_event_id, parser.retry)


def split_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    """`stream` cut at the given offsets (in any order, repeats allowed)."""
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[start:end] for start, end in pairwise(bounds)]


def chunkings(stream: bytes, chunking: str) -> list[list[bytes]]:
    if chunking == "whole":
        return [[stream]]
    if chunking == "byte by byte":
        return [split_at(stream, list(range(1, len(stream))))]
    return [split_at(stream, [cut]) for cut in range(len(stream) + 1)]


def parse(stream: bytes, chunking: str) -> Parsed:
    """What a parser makes of `stream`, checked to be the same for every cut of `chunking`."""
    first, *others = (feed_all(chunks) for chunks in chunkings(stream, chunking))
    for other in others:
        assert other == first
    return first


@pytest.fixture(params=["whole", "byte by byte", "every 2-way split"])
def chunking(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def message(data: str, event: str = "message", id: str = "") -> ServerSentEvent:
    """A parsed event as the parser reports it."""
    return ServerSentEvent(data=data, event=event, id=id)


# The byte stream: decoding and lines


def test_a_leading_bom_is_stripped(chunking: str) -> None:
    assert parse(BOM + b"data: hi\n\n", chunking).events == [message("hi")]


def test_only_one_leading_bom_is_stripped(chunking: str) -> None:
    # The second BOM becomes part of the field name "\ufeffdata", an unknown field.
    stream = BOM + BOM + b"data: lost\n\ndata: kept\n\n"
    assert parse(stream, chunking).events == [message("kept")]


def test_a_bom_after_the_start_is_an_ordinary_character(chunking: str) -> None:
    stream = b"data: " + BOM + b"a\n\n" + BOM + b"data: lost\n\n"
    assert parse(stream, chunking).events == [message("\ufeffa")]


@pytest.mark.parametrize("end", [b"\r", b"\n", b"\r\n"], ids=["CR", "LF", "CRLF"])
def test_cr_lf_and_crlf_each_end_a_line(chunking: str, end: bytes) -> None:
    stream = b"data: a" + end + b"data: b" + end + end
    assert parse(stream, chunking).events == [message("a\nb")]


def test_mixed_line_ends_in_one_stream(chunking: str) -> None:
    stream = b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\n\r"
    assert parse(stream, chunking).events == [message("a\nb\nc"), message("d")]


def test_a_crlf_cut_between_chunks_ends_one_line() -> None:
    # Counted twice, the LF would be a blank line and dispatch "a" alone.
    chunks = [b"data: a\r", b"", b"\ndata: b\r", b"\n\r", b"\n"]
    assert feed_all(chunks).events == [message("a\nb")]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"a\xffb", "a\ufffdb"),
        (b"\xf0\x9f\x98x", "\ufffdx"),  # a truncated sequence is one U+FFFD
        (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),  # an encoded surrogate: one per byte
        (b"\xc0\xaf", "\ufffd\ufffd"),  # an overlong form
    ],
    ids=["stray byte", "truncated", "surrogate", "overlong"],
)
def test_invalid_utf8_decodes_to_replacement_characters(
    chunking: str, raw: bytes, text: str
) -> None:
    assert parse(b"data: " + raw + b"\n\n", chunking).events == [message(text)]


def test_multibyte_characters_survive_any_cut(chunking: str) -> None:
    text = "é 東京 😀"
    assert parse(f"data: {text}\n\n".encode(), chunking).events == [message(text)]


# Lines: comments, fields, values


def test_comment_lines_are_ignored(chunking: str) -> None:
    stream = b": hello\ndata: a\n:\n: data: not data\n\n"
    assert parse(stream, chunking).events == [message("a")]


def test_a_comment_alone_dispatches_nothing(chunking: str) -> None:
    assert parse(b": heartbeat\n\n", chunking).events == []


def test_a_field_without_colon_has_an_empty_value(chunking: str) -> None:
    stream = b"data\n\ndata\ndata\n\nevent\ndata: x\n\n"
    assert parse(stream, chunking).events == [message(""), message("\n"), message("x")]


def test_one_leading_space_is_stripped_from_a_value(chunking: str) -> None:
    stream = b"data:no space\n\ndata: one\n\ndata:  two\n\ndata:\ttab\n\n"
    expected = [message("no space"), message("one"), message(" two"), message("\ttab")]
    assert parse(stream, chunking).events == expected


def test_the_first_colon_ends_the_field_name(chunking: str) -> None:
    assert parse(b"data: a: b:c\n\n", chunking).events == [message("a: b:c")]


def test_unknown_fields_are_ignored(chunking: str) -> None:
    stream = b"foo: bar\nDATA: upper\nEvent: x\ndata : spaced\nid : 3\ndata: kept\n\n"
    assert parse(stream, chunking).events == [message("kept")]


# Dispatching at a blank line


def test_data_lines_are_joined_with_lf(chunking: str) -> None:
    stream = b"data: a\ndata:\ndata: b\n\ndata: end\ndata\n\n"
    assert parse(stream, chunking).events == [message("a\n\nb"), message("end\n")]


def test_an_event_without_data_is_not_dispatched(chunking: str) -> None:
    assert parse(b"event: ping\nid: 4\n\n", chunking).events == []


def test_an_event_without_data_still_resets_the_event_type(chunking: str) -> None:
    stream = b"event: ping\n\ndata: x\n\n"
    assert parse(stream, chunking).events == [message("x")]


def test_the_event_type_resets_after_each_dispatch(chunking: str) -> None:
    stream = b"event: done\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n"
    expected = [message("1", event="done"), message("2"), message("3")]
    assert parse(stream, chunking).events == expected


def test_an_unterminated_last_event_is_never_dispatched(chunking: str) -> None:
    for tail in (b"data: b", b"data: b\n", b"data: b\r", b"data: b\r\n"):
        assert parse(b"data: a\n\n" + tail, chunking).events == [message("a")]


# The last event id


def test_the_last_event_id_persists_across_events(chunking: str) -> None:
    parsed = parse(b"id: 7\ndata: a\n\ndata: b\n\n", chunking)
    assert parsed.events == [message("a", id="7"), message("b", id="7")]
    assert parsed.last_event_id == "7"


def test_an_id_containing_null_is_ignored(chunking: str) -> None:
    parsed = parse(b"id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n", chunking)
    assert [event.id for event in parsed.events] == ["1", "1"]
    assert parsed.last_event_id == "1"


@pytest.mark.parametrize("reset", [b"id\n", b"id:\n", b"id: \n"])
def test_an_empty_id_resets_the_last_event_id(chunking: str, reset: bytes) -> None:
    parsed = parse(b"id: 1\ndata: a\n\n" + reset + b"data: b\n\n", chunking)
    assert [event.id for event in parsed.events] == ["1", ""]
    assert parsed.last_event_id == ""


def test_an_id_counts_even_in_an_event_without_data(chunking: str) -> None:
    assert parse(b"id: 9\n\n", chunking).last_event_id == "9"


def test_the_last_event_id_changes_only_at_the_blank_line() -> None:
    parser = EventStreamParser()
    for byte in b"data: a\n\nid: 5\ndata: b\n":
        parser.feed(bytes([byte]))
        assert parser.last_event_id == ""
    parser.feed(b"\n")
    assert parser.last_event_id == "5"


def test_an_id_in_an_unterminated_event_never_becomes_the_last_event_id(chunking: str) -> None:
    assert parse(b"id: 1\ndata: a\n\nid: 2\ndata: b\n", chunking).last_event_id == "1"


# The reconnection time


@pytest.mark.parametrize(("value", "ms"), [(b"1500", 1500), (b"0", 0), (b"007", 7)])
def test_retry_sets_the_reconnection_time(chunking: str, value: bytes, ms: int) -> None:
    assert parse(b"retry: " + value + b"\n", chunking).retry == ms


@pytest.mark.parametrize(
    "value",
    ["1.5", "-1", "+5", " 10", "10 ", "1e3", "0x10", "", "１２", "²"],
)
def test_retry_other_than_ascii_digits_is_ignored(chunking: str, value: str) -> None:
    stream = b"retry: 100\nretry: " + value.encode() + b"\n"
    assert parse(stream, chunking).retry == 100


def test_retry_without_a_space_after_the_colon(chunking: str) -> None:
    assert parse(b"retry:10\n", chunking).retry == 10


def test_a_dispatched_event_carries_its_retry(chunking: str) -> None:
    parsed = parse(b"retry: 5\ndata: a\n\ndata: b\n\n", chunking)
    assert [event.retry for event in parsed.events] == [5, None]
    assert parsed.retry == 5


def test_a_retry_too_long_to_convert_is_ignored() -> None:
    assert feed_all([b"retry: 250\nretry: " + b"9" * 10_000 + b"\n"]).retry == 250


# Any bytes, any chunking

SSE_PIECES = [b"data", b"id", b"event", b"retry", b":", b" ", b"\r", b"\n", b"1", b"x"]
SSE_PIECES += [b"\x00", BOM, b"\xe6\x9d\xb1", b"\xff"]
sse_pieces = st.sampled_from(SSE_PIECES) | st.binary(max_size=4)
sse_like = st.lists(sse_pieces, max_size=60).map(b"".join)


@given(stream=st.binary() | sse_like, data=st.data())
def test_feed_never_raises_and_chunks_never_change_the_result(
    stream: bytes, data: st.DataObject
) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    assert feed_all(split_at(stream, cuts)) == feed_all([stream])


# Encoding, then parsing

LINE_BREAK = re.compile(r"\r\n|\r|\n")
event_types = st.text().filter(lambda text: not LINE_BREAK.search(text))
event_ids = st.none() | st.text().filter(lambda text: not re.search(r"[\r\n\x00]", text))
events_to_send = st.lists(
    st.builds(
        ServerSentEvent,
        data=st.text(),
        event=event_types,
        id=event_ids,
        retry=st.none() | st.integers(min_value=0),
    ),
    max_size=8,
)


@given(sent=events_to_send, data=st.data())
def test_parsing_what_was_encoded_gives_the_events_back(
    sent: list[ServerSentEvent], data: st.DataObject
) -> None:
    stream = b"".join(event.encode() for event in sent)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    expected = []
    last_id = ""
    for event in sent:
        last_id = last_id if event.id is None else event.id
        text = LINE_BREAK.sub("\n", event.data)
        expected.append(ServerSentEvent(text, event.event or "message", last_id, event.retry))
    assert feed_all(split_at(stream, cuts)).events == expected


# The events themselves


def test_a_parsed_event_cannot_be_changed() -> None:
    (event,) = EventStreamParser().feed(b"data: hi\n\n")
    with pytest.raises(AttributeError):
        event.data = "changed"  # type: ignore[misc]
    assert event == ServerSentEvent(data="hi", id="")


def test_an_event_equals_only_an_event_with_the_same_fields() -> None:
    event = ServerSentEvent(data="hi", id="1")
    assert event == ServerSentEvent("hi", "message", "1", None)
    assert event != ServerSentEvent(data="hi", id="2")
    assert event != ("hi", "message", "1", None)
    assert ("hi", "message", "1", None) != event  # noqa: SIM300 (the tuple on the left)
    assert len({event, ServerSentEvent(data="hi", id="1")}) == 1
