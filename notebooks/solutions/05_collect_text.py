import json
from collections.abc import AsyncIterator

from sse_lab import ServerSentEvent


async def collect_text(events: AsyncIterator[ServerSentEvent]) -> str:
    """The answer's text: every chunk's `delta.content`, up to `data: [DONE]`."""
    pieces: list[str] = []
    async for event in events:
        if event.data == "[DONE]":
            break
        for choice in json.loads(event.data)["choices"]:
            pieces.append(choice["delta"].get("content") or "")
    return "".join(pieces)
