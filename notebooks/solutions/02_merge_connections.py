from sse_lab import ServerSentEvent


def merge_connections(
    connections: list[list[ServerSentEvent]],
) -> tuple[list[ServerSentEvent], list[int], list[int]]:
    """The message events once each, in arrival order; the ids lost and the ids repeated."""
    merged: list[ServerSentEvent] = []
    seen: set[int] = set()
    repeated: set[int] = set()
    for events in connections:
        for event in events:
            if event.event != "message":
                continue  # `done` and other types are not numbered pieces
            n = int(event.id)
            if n in seen:
                repeated.add(n)
            else:
                seen.add(n)
                merged.append(event)
    missing = [n for n in range(1, max(seen, default=0) + 1) if n not in seen]
    return merged, missing, sorted(repeated)
