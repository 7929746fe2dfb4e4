def status_event() -> bytes:
    """An event of type `status`, id 42, with two lines of data, ready to send."""
    return b"event: status\nid: 42\ndata: searching the web\ndata: reading 3 pages\n\n"
