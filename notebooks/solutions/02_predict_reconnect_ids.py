def predict_reconnect_ids() -> list[str]:
    """The Last-Event-ID sent after each of DROPPED_CONNECTIONS ("" means no header)."""
    return [
        "2",  # event 3 was cut before its blank line: never dispatched
        "3",  # no id on the next event, a comment, then `id: 4` without its blank line
        "5",  # `id: 5` + blank line moves the last event id, with no event dispatched
        "",  # `id` with no value resets it: the next reconnect sends no header at all
    ]
