"""The SSE wire format: a spec-exact parser and an encoder (pure: no I/O).

The parser follows the WHATWG HTML standard, "Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation),
step by step; the encoder writes what that parser reads back unchanged.
"""

from __future__ import annotations

import codecs
import re
from typing import NamedTuple

__all__ = [
    "EventStreamParser",
    "ServerSentEvent",
    "encode_comment",
    "encode_retry",
]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FORBIDDEN_IN_EVENT = re.compile(r"[\r\n]")
_FORBIDDEN_IN_ID = re.compile(r"[\r\n\x00]")


class ServerSentEvent(NamedTuple):
    """One event: what a browser hands to `onmessage` or `addEventListener(event, ...)`.

    On a parsed event, `id` is the stream's last event id at dispatch (a string, maybe
    empty), as `MessageEvent.lastEventId` is. To encode, `id=None` writes no `id` field.
    Immutable, and equal only to an event with the same fields: a tuple underneath, which
    a parser builds with one call.
    """

    data: str = ""
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def encode(self) -> bytes:
        """The event as `text/event-stream` bytes, ending with the blank line that dispatches it."""
        if _FORBIDDEN_IN_EVENT.search(self.event):
            raise ValueError(f"event type must not contain CR or LF: {self.event!r}")
        if self.id is not None and _FORBIDDEN_IN_ID.search(self.id):
            raise ValueError(f"event id must not contain CR, LF or NULL: {self.id!r}")
        parts: list[str] = []
        if self.retry is not None:
            parts.append(_retry_line(self.retry))
        if self.event and self.event != "message":
            parts.append(f"event: {self.event}\n")
        if self.id is not None:
            parts.append(f"id: {self.id}\n" if self.id else "id\n")
        data = self.data
        if "\n" in data or "\r" in data:
            for line in _LINE_BREAK.split(data):
                parts.append(f"data: {line}\n" if line else "data\n")
        else:
            parts.append(f"data: {data}\n" if data else "data\n")
        parts.append("\n")
        return "".join(parts).encode()

    # Not equal to a plain tuple with the same items: NotImplemented would let tuple's own
    # comparison answer for the other side.
    def __eq__(self, other: object) -> bool:
        return other.__class__ is self.__class__ and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return tuple.__hash__(self)


def encode_comment(text: str = "") -> bytes:
    """Comment lines (`: text`), ignored by parsers: the usual heartbeat that keeps proxies open."""
    return "".join(f": {line}\n" if line else ":\n" for line in _LINE_BREAK.split(text)).encode()


def encode_retry(milliseconds: int) -> bytes:
    """A lone `retry` line: how long the client waits before reconnecting.

    No blank line follows: the next event's blank line ends it. A blank line of its own
    would dispatch nothing, yet set a strict parser's last event id from an empty buffer.
    """
    return _retry_line(milliseconds).encode()


def _retry_line(milliseconds: int) -> str:
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int) or milliseconds < 0:
        raise ValueError(f"retry must be a whole number of milliseconds >= 0: {milliseconds!r}")
    return f"retry: {milliseconds}\n"


# A speed trick of the parser (benchmarks/README.md): what ServerSentEvent(...) does,
# without its Python-level call.
_new_event = tuple.__new__


class EventStreamParser:
    """Turns `text/event-stream` bytes, in any chunking, into events.

    `feed` never raises: the spec defines a result for every byte string. An event is
    dispatched only when its blank line arrives, so a stream cut mid-event yields nothing
    for that event, as in a browser.
    """

    def __init__(self, last_event_id: str = "") -> None:
        """`last_event_id`: the id a reconnecting client already has. The spec starts each
        stream's id buffer empty; browsers carry the old id over, and so do we."""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._at_start = True  # a leading BOM is still possible
        self._after_cr = False  # the last chunk ended in CR: a first LF belongs to it
        self._partial = ""  # the start of a line whose end has not arrived
        self._data: list[str] = []
        self._event = ""
        self._id = last_event_id  # the spec's "last event ID buffer"
        self._retry_in_event: int | None = None
        self.last_event_id = last_event_id  # set from the buffer at each blank line
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Parse the next bytes; return the events they complete, in order."""
        text = self._decoder.decode(chunk)
        if self._at_start and text:
            self._at_start = False
            if text[0] == "\ufeff":
                text = text[1:]
        if not text:
            return []
        if self._after_cr:
            self._after_cr = False
            if text[0] == "\n":
                text = text[1:]
        if "\r" in text:
            if text[-1] == "\r":
                self._after_cr = True
            lines = _LINE_BREAK.split(text)
        else:
            lines = text.split("\n")
        if self._partial:
            lines[0] = self._partial + lines[0]
        self._partial = lines.pop()
        return self._process(lines) if lines else []

    def _process(self, lines: list[str]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        data = self._data
        event, id_buffer, retry = self._event, self._id, self._retry_in_event  # locals: hot loop
        for line in lines:
            if not line:  # a blank line dispatches the event
                self.last_event_id = id_buffer
                if data:
                    fields = ("\n".join(data), event or "message", id_buffer, retry)
                    events.append(_new_event(ServerSentEvent, fields))
                    data.clear()
                event, retry = "", None
                continue
            name, _, value = line.partition(":")  # no colon: all of it is the name, value ""
            if value and value[0] == " ":
                value = value[1:]
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name == "id":
                if "\x00" not in value:
                    id_buffer = value
            elif name == "retry" and (milliseconds := _retry_value(value)) is not None:
                retry = self.retry = milliseconds
            # else: a comment (empty name) or an unknown field, ignored
        self._event, self._id, self._retry_in_event = event, id_buffer, retry
        return events


def _retry_value(value: str) -> int | None:
    """A `retry` value as an int: only ASCII digits count, anything else is ignored."""
    if not (value.isascii() and value.isdigit()):
        return None
    try:
        return int(value)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return None
