from sse_lab import ServerSentEvent


def how_it_ended(events: list[ServerSentEvent]) -> str:
    """How the stream ended: "finished" (the last event is `done`), "failed" (it is `error`)
    or "cut off" (the body ended before either, maybe before any event)."""
    last = events[-1].event if events else None  # no events: cut before the first
    if last == "done":
        return "finished"  # a stopped answer too: finish_reason "stopped"
    if last == "error":
        return "failed"
    return "cut off"
