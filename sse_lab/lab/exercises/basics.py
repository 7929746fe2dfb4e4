"""Checks for notebook 01 (SSE basics): predicting the events of a raw stream, writing an
event's bytes by hand, and a minimal parser for `data:`-only streams.

Each check runs the learner's function, compares it with what `EventStreamParser` makes
of the same bytes, prints a verdict and returns whether it passed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sse_lab.lab.exercises import Verdict, failed_definition_problem, verdict, with_hint
from sse_lab.lab.i18n import N_, _
from sse_lab.sse import EventStreamParser, ServerSentEvent

__all__ = [
    "PUZZLE",
    "STATUS_EVENT",
    "check_parse_data_events",
    "check_predict_events",
    "check_status_event",
]

# A raw stream to predict: a retry line, a comment, an id that carries over, a named event,
# multi-line data, an id reset, and a last event without its blank line.
PUZZLE: Final = (
    "retry: 1000\n"
    ": the server says hello\n"
    "\n"
    "data: first\n"
    "id: 1\n"
    "\n"
    "event: done\n"
    "data: second\n"
    "data: part two\n"
    "\n"
    "id\n"
    "data: third\n"
    "\n"
    "data: lost\n"
)

# The event whose bytes the learner writes by hand.
STATUS_EVENT: Final = ServerSentEvent(
    data="searching the web\nreading 3 pages", event="status", id="42"
)

# stream -> a hint for when a parser gets it wrong
_DATA_ONLY_CASES: Final[tuple[tuple[str, str], ...]] = (
    ("data: hello\n\n", N_("one `data:` line, then a blank line: one event")),
    ("data: a\n\ndata: b\n\n", N_("each blank line ends one event")),
    (
        "data: line 1\ndata: line 2\n\n",
        N_("the `data:` lines of one event are joined with '\\n'"),
    ),
    (": heartbeat\ndata: x\n\n", N_("a line starting with `:` is a comment: skip it")),
    ("data:no space\n\n", N_("the space after the colon is optional")),
    ("data:  two spaces\n\n", N_("only ONE space after the colon is removed, the rest is data")),
    ("data: kept\n\ndata: cut off\n", N_("an event without its blank line is never dispatched")),
    ("\n\n\ndata: x\n\n\n", N_("a blank line with no data before it dispatches nothing")),
    ("data:\n\n", N_("an empty `data:` line still makes an event, with empty data")),
)

_FIELD_HINTS: Final = {
    "type": N_("an event without an `event:` line is a 'message'; the type does not carry over"),
    "id": N_(
        "the id carries over to later events until an `id` line changes it; "
        "`id` with no value resets it to ''"
    ),
    "data": N_("each `data:` line adds one line; the lines are joined with '\\n'"),
}

# The rule behind each event's id in PUZZLE, for a prediction that gets that id wrong.
_PUZZLE_ID_HINTS: Final = (
    N_(
        "`id: 1` comes after `data: first` but before the blank line, so it belongs to this "
        "event: the order of the lines within an event does not matter"
    ),
    N_(
        "this event has no `id` line, so it keeps the last id: the id carries over until an "
        "`id` line changes it"
    ),
    N_("the line `id` with no value resets the last event id to ''"),
)


def _parse(stream: str) -> list[ServerSentEvent]:
    return EventStreamParser().feed(stream.encode())


def check_predict_events(predict_events: Callable[[], object]) -> Verdict:
    """Whether `predict_events()` lists the events of PUZZLE as (type, id, data) tuples."""
    expected = [(event.event, event.id or "", event.data) for event in _parse(PUZZLE)]
    try:
        got = predict_events()
    except Exception as error:
        return verdict(_("predict_events() raised {error!r}").format(error=error))
    if not isinstance(got, list | tuple):
        return verdict(
            _("predict_events() returned {got!r}: return a list of tuples").format(got=got)
        )
    predicted = [tuple(item) if isinstance(item, list | tuple) else item for item in got]
    if len(predicted) != len(expected):
        return verdict(
            _(
                "you predicted {predicted} events, the parser dispatches {expected} (only a "
                "blank line dispatches an event, and only if some `data` came before it)"
            ).format(predicted=len(predicted), expected=len(expected))
        )
    for number, (guess, actual) in enumerate(zip(predicted, expected, strict=True), 1):
        if not (isinstance(guess, tuple) and len(guess) == 3):
            return verdict(
                _("event {number}: {guess!r} is not a (type, id, data) tuple").format(
                    number=number, guess=guess
                )
            )
        for field, said, right in zip(_FIELD_HINTS, guess, actual, strict=True):
            if said != right:
                hint = _PUZZLE_ID_HINTS[number - 1] if field == "id" else _FIELD_HINTS[field]
                problem = _(
                    "event {number}: you said its {field} is {said!r}, the parser says {right!r}"
                ).format(number=number, field=field, said=said, right=right)
                return verdict(with_hint(problem, _(hint)))
    return verdict(None, _("you read the stream the way a browser does"))


def check_status_event(status_event: Callable[[], object]) -> Verdict:
    """Whether `status_event()` returns bytes that a parser reads as exactly STATUS_EVENT."""
    try:
        raw = status_event()
    except Exception as error:
        return verdict(_("status_event() raised {error!r}").format(error=error))
    if not isinstance(raw, bytes):
        return verdict(
            _("status_event() returned {raw!r}: return bytes, such as b'data: hi\\n\\n'").format(
                raw=raw
            )
        )
    if not raw:
        return verdict(_("status_event() returned no bytes yet: write the event between b'...'"))
    events = EventStreamParser().feed(raw)
    if not events:
        return verdict(_("no event was dispatched: end the event with a blank line (b'\\n\\n')"))
    if len(events) > 1:
        return verdict(
            _(
                "a parser reads {count} events: put every field of the event before one blank line"
            ).format(count=len(events))
        )
    event, target = events[0], STATUS_EVENT
    if event.event != target.event:
        problem = _("the event type is {got!r}, not {expected!r}").format(
            got=event.event, expected=target.event
        )
        return verdict(with_hint(problem, _unknown_field_hint(raw)))
    if event.id != target.id:
        return verdict(
            _("the id is {got!r}, not {expected!r}").format(got=event.id, expected=target.id)
        )
    if event.data != target.data:
        hint = _extra_space_hint(event.data, target.data) or _(
            "two lines of data need two `data:` lines"
        )
        problem = _("the data is {got!r}, not {expected!r}").format(
            got=event.data, expected=target.data
        )
        return verdict(with_hint(problem, hint))
    return verdict(None, _("a browser would hand this to addEventListener('status', ...)"))


def _unknown_field_hint(raw: bytes) -> str | None:
    """A hint naming a line whose field SSE does not know (a parser ignores it), e.g.
    `type: status` written for `event: status`; None when every field is a known one."""
    for line in raw.decode(errors="replace").splitlines():
        name = line.partition(":")[0]
        if line and not line.startswith(":") and name not in ("event", "data", "id", "retry"):
            return _(
                "a parser ignores the line {line!r}: SSE knows only the fields `event`, "
                "`data`, `id` and `retry`, and an event's type goes in an `event:` line"
            ).format(line=line)
    return None


def _extra_space_hint(got: str, expected: str) -> str | None:
    """The hint for data whose lines start with a space more than expected (`data:  x`)."""
    mine, theirs = got.split("\n"), expected.split("\n")
    if len(mine) == len(theirs) and all(
        line == right or line == " " + right for line, right in zip(mine, theirs, strict=True)
    ):
        return _(
            "only the one space after `data:` is dropped, so with two spaces the data starts "
            "with a space"
        )
    return None


def _space_mistake(got: object, expected: list[str]) -> str | None:
    """The hint for data lines that differ from the expected only by the space after `data:`."""
    if not (isinstance(got, list) and all(isinstance(data, str) for data in got)):
        return None
    mine, theirs = "\n".join(got).split("\n"), "\n".join(expected).split("\n")
    if len(got) != len(expected) or len(mine) != len(theirs):
        return None
    lines = list(zip(mine, theirs, strict=True))
    if all(line in (right, " " + right) for line, right in lines):
        return _("`data: hello` carries 'hello': remove the one space after the colon, if any")
    if all(line == right.lstrip(" ") for line, right in lines):
        return _("only ONE space after the colon is removed; any further spaces are data")
    return None


def check_parse_data_events(parse_data_events: Callable[[str], object]) -> Verdict:
    """Whether `parse_data_events(stream)` returns the data of each event, as a browser would
    (and the learner's latest cell defining it ran: see failed_definition_problem)."""
    if problem := failed_definition_problem(parse_data_events):
        return verdict(problem)
    for stream, hint in _DATA_ONLY_CASES:
        expected = [event.data for event in _parse(stream)]
        try:
            got = parse_data_events(stream)
        except Exception as error:
            return verdict(
                _("parse_data_events({stream!r}) raised {error!r}").format(
                    stream=stream, error=error
                )
            )
        if got != expected:
            problem = _("parse_data_events({stream!r}) returned {got!r}, expected {expected!r}")
            return verdict(
                with_hint(
                    problem.format(stream=stream, got=got, expected=expected),
                    _space_mistake(got, expected) or _(hint),
                )
            )
    return verdict(
        None,
        _("your parser agrees with the spec on {count} streams").format(
            count=len(_DATA_ONLY_CASES)
        ),
    )
