def stream_stats(arrivals: list[float]) -> tuple[float, float]:
    """(time to first token, tokens per second after it) from arrival times since Send."""
    first, last = arrivals[0], arrivals[-1]
    return first, (len(arrivals) - 1) / (last - first)
