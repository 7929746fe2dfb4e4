import re


def encode_event(data: str, event: str | None = None, id: str | None = None) -> bytes:
    """The bytes of one event: optional `event:` and `id:` lines, a `data:` line per line."""
    lines = [f"event: {event}"] if event else []
    lines += [f"id: {id}"] if id else []
    lines += [f"data: {line}" for line in re.split(r"\r\n|\r|\n", data)]
    return ("\n".join(lines) + "\n\n").encode()
