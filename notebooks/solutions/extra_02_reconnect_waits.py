def reconnect_waits(retry_ms: int, failures: int, cap_ms: int = 30_000) -> list[int]:
    """The wait before each of `failures` reconnects in a row: doubling, at most cap_ms."""
    return [min(retry_ms * 2**n, cap_ms) for n in range(failures)]
