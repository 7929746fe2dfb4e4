"""SSE Lab: the package behind the workbook on Server-Sent Events.

The names a notebook uses are here: the wire format (`sse`), the clients a browser
developer would reach for (`clients`), and the lab server started from a cell (`lab.launch`).
"""

from sse_lab.clients import (
    EventSource,
    EventSourcePolyfill,
    SSEResponseError,
    StreamCutOff,
    fetch_event_source,
)
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.sse import EventStreamParser, ServerSentEvent, encode_comment, encode_retry

__all__ = [
    "EventSource",
    "EventSourcePolyfill",
    "EventStreamParser",
    "LabServer",
    "SSEResponseError",
    "ServerSentEvent",
    "StreamCutOff",
    "encode_comment",
    "encode_retry",
    "fetch_event_source",
    "start_server",
]
