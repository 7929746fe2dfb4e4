def parse_data_events(stream: str) -> list[str]:
    """The data of each event of a stream with only `data:` lines, comments and blank lines."""
    events: list[str] = []
    lines: list[str] = []  # the data lines of the event being read
    for line in stream.split("\n")[:-1]:  # the last piece has no line end: not a line yet
        if line == "":  # a blank line dispatches the event, if it has data
            if lines:
                events.append("\n".join(lines))
            lines = []
        elif line.startswith("data:"):
            value = line[len("data:") :]
            lines.append(value[1:] if value.startswith(" ") else value)
        # anything else is a comment (or a field this parser does not need)
    return events
