"""Checks for notebook 02 (reconnection): which `Last-Event-ID` a reconnect sends, and
merging the events of several connections while spotting lost and repeated ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from sse_lab.lab.exercises import Verdict, verdict
from sse_lab.lab.i18n import N_, _
from sse_lab.sse import EventStreamParser, ServerSentEvent

__all__ = [
    "DROPPED_CONNECTIONS",
    "check_merge_connections",
    "check_predict_reconnect_ids",
    "reconnect_ids",
]

# What one client received on each of four connections, each cut by the network.
DROPPED_CONNECTIONS: Final = (
    b"retry: 300\nid: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c",
    b"id: 3\ndata: c\n\ndata: no id on this one\n\n: heartbeat\n\nid: 4\ndata: d\n",
    b"id: 4\ndata: d\n\nid: 5\n\n",
    b"id: 6\ndata: e\n\nid\ndata: f\n\n",
)

_HINTS: Final = (
    N_("event 3 never got its blank line, so it was not dispatched and its id does not count"),
    N_(
        "an event without `id:` keeps the last id; a comment changes nothing; `id: 4` came "
        "without its blank line"
    ),
    N_("a blank line after `id: 5` sets the last event id, even though no event is dispatched"),
    N_("an `id` field with no value resets the last event id to the empty string"),
)


def reconnect_ids(connections: Sequence[bytes]) -> list[str]:
    """The `Last-Event-ID` an EventSource sends after each connection ("" means no header).

    The id carries over from one connection to the next, as in a browser.
    """
    last_event_id = ""
    ids = []
    for received in connections:
        parser = EventStreamParser(last_event_id=last_event_id)
        parser.feed(received)
        last_event_id = parser.last_event_id
        ids.append(last_event_id)
    return ids


def check_predict_reconnect_ids(predict_reconnect_ids: Callable[[], object]) -> Verdict:
    """Whether `predict_reconnect_ids()` lists the `Last-Event-ID` sent after each of the
    DROPPED_CONNECTIONS."""
    try:
        got = predict_reconnect_ids()
    except Exception as error:
        return verdict(_("predict_reconnect_ids raised {error!r}").format(error=error))
    expected = reconnect_ids(DROPPED_CONNECTIONS)
    if got is None:
        problem: str | None = _("predict_reconnect_ids returned None: return a list of strings")
    elif not isinstance(got, list) or not all(isinstance(item, str) for item in got):
        problem = _('return a list of strings (use "" for no header), not {got!r}').format(got=got)
    elif len(got) != len(expected):
        problem = _("{ids} ids for {connections} connections").format(
            ids=len(got), connections=len(expected)
        )
    else:
        problem = next(
            (
                _("after connection {n} you said {mine!r}: {hint}").format(
                    n=n, mine=mine, hint=_(hint)
                )
                for n, (mine, theirs, hint) in enumerate(zip(got, expected, _HINTS, strict=True), 1)
                if mine != theirs
            ),
            None,
        )
    return verdict(problem, _("you read the streams as an EventSource does"))


_Connections = list[list[ServerSentEvent]]
_Merged = tuple[list[int], list[int], list[int]]  # message ids kept, missing, repeated


def _events(*ids: int, done: int | None = None) -> list[ServerSentEvent]:
    events = [ServerSentEvent(data=f'{{"n": {n}}}', id=str(n)) for n in ids]
    if done is not None:
        events.append(ServerSentEvent(data="{}", event="done", id=str(done)))
    return events


# (what the case shows, the connections, what merging them gives)
_MERGE_CASES: Final[tuple[tuple[str, _Connections, _Merged], ...]] = (
    (N_("a clean resume"), [_events(1, 2, 3), _events(4, 5, done=6)], ([1, 2, 3, 4, 5], [], [])),
    (
        N_("a server that replays from an older id"),
        [_events(1, 2, 3), _events(3, 4), _events(2, 3, 4, 5)],
        ([1, 2, 3, 4, 5], [], [2, 3, 4]),
    ),
    (N_("a gap"), [_events(1, 2), _events(5, 6)], ([1, 2, 5, 6], [3, 4], [])),
    (
        N_("ids past 9 (compare numbers, not strings)"),
        [_events(*range(1, 11)), _events(12, 10, done=13)],
        ([*range(1, 11), 12], [11], [10]),
    ),
    (N_("no events at all"), [[], []], ([], [], [])),
)


def check_merge_connections(merge_connections: Callable[[_Connections], object]) -> Verdict:
    """Whether `merge_connections(connections)` returns (events, missing, repeated): the
    message events once each in arrival order, and the lost and repeated ids as sorted ints."""
    for what, connections, (ids, missing, repeated) in _MERGE_CASES:
        try:
            got = merge_connections([list(events) for events in connections])
        except Exception as error:
            return verdict(
                _("with {case}, merge_connections raised {error!r}").format(
                    case=_(what), error=error
                )
            )
        problem = _merge_problem(got, connections, ids, missing, repeated)
        if problem:
            return verdict(_("with {case}: {problem}").format(case=_(what), problem=problem))
    return verdict(None, _("merge_connections keeps each event once and reports every gap"))


def _merge_problem(
    got: object, connections: _Connections, ids: list[int], missing: list[int], repeated: list[int]
) -> str | None:
    if got is None:
        return _("merge_connections returned None: return (events, missing, repeated)")
    if not isinstance(got, tuple | list) or len(got) != 3:
        return _("return a tuple (events, missing, repeated), not {got!r}").format(got=got)
    events, got_missing, got_repeated = got
    if not isinstance(events, list) or not all(isinstance(e, ServerSentEvent) for e in events):
        return _("the first item should be a list of ServerSentEvent")
    if problem := _kept_copy_problem(events, connections):
        return problem
    got_ids = [e.id for e in events]
    if got_ids != [str(n) for n in ids]:
        return _("the events' ids are {got}, expected {expected}").format(
            got=got_ids, expected=[str(n) for n in ids]
        )
    if got_missing != missing:
        return _("missing is {got!r}, expected {expected!r}").format(
            got=got_missing, expected=missing
        )
    if got_repeated != repeated:
        return _("repeated is {got!r}, expected {expected!r}").format(
            got=got_repeated, expected=repeated
        )
    return None


def _kept_copy_problem(events: list[ServerSentEvent], connections: _Connections) -> str | None:
    """What is wrong with which events were kept, whatever their order: an event that is
    not a `message` (`done`), or a later copy of a repeated id (the very object that came
    later: copies are equal) instead of the first."""
    if kept := sorted({e.event for e in events} - {"message"}):
        # TRANSLATORS: joins two event types, as in "`done` and `error`"
        both = _(" and ").join(f"`{k}`" for k in kept)
        return _(
            "the events include {kinds}: keep only the `message` events; `done` and `error` "
            "are not numbered pieces"
        ).format(kinds=both)
    arrived = [event for received in connections for event in received]
    first: dict[str | None, ServerSentEvent] = {}
    for event in arrived:
        first.setdefault(event.id, event)
    later_copies = [event for event in arrived if first[event.id] is not event]
    later = [e.id for e in events if any(e is copy for copy in later_copies)]
    if later:
        return _(
            "the events keep a later copy of the repeated id {id}: keep the first copy, where "
            "it arrived, and count the later ones as repeated"
        ).format(id=later[0])
    return None
