def predict_events() -> list[tuple[str, str, str]]:
    """The events of PUZZLE as (type, id, data), in the order a browser dispatches them."""
    return [
        ("message", "1", "first"),  # the first blank line had no data: nothing dispatched
        ("done", "1", "second\npart two"),  # the id carries over; two data lines joined
        ("message", "", "third"),  # `id` with no value reset it
        # "data: lost" never got its blank line: no event
    ]
