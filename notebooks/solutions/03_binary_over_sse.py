import base64

from sse_lab import ServerSentEvent


def encode_binary(payload: bytes) -> bytes:
    """One event carrying `payload` as base64 text: ASCII only, no line breaks."""
    return ServerSentEvent(data=base64.b64encode(payload).decode("ascii")).encode()


def decode_binary(event: ServerSentEvent) -> bytes:
    """The bytes an `encode_binary` event carries."""
    return base64.b64decode(event.data)
