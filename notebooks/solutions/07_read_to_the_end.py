import json

import aiohttp

from sse_lab import fetch_event_source


async def read_to_the_end(stream_url: str, token: str) -> str:
    """The whole answer, reconnecting with Last-Event-ID after every cut until `done`."""
    pieces = []
    last_id = "0"  # 0: from the start
    while True:
        headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": last_id}
        try:
            async for event in fetch_event_source(stream_url, headers=headers):
                last_id = event.id or last_id
                if event.event == "message":
                    pieces.append(json.loads(event.data)["delta"])
                elif event.event in ("done", "error"):
                    return "".join(pieces)
        except aiohttp.ClientPayloadError:
            continue  # the proxy cut the stream: reconnect after the last id seen
        return "".join(pieces)  # the server ended the stream (a 204: nothing was left)
