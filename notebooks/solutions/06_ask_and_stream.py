import json

import aiohttp

from sse_lab import fetch_event_source


async def ask_and_stream(url: str, token: str, prompt: str) -> str:
    """POST the prompt to /new, then stream /sse/{id} until `done`; the answer's text."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(f"{url}/new", json={"prompt": prompt}) as response:
            response.raise_for_status()
            created = await response.json()  # {"id": ..., "stream_url": "/sse/<id>"}
        pieces = []
        async for event in fetch_event_source(url + created["stream_url"], session=session):
            if event.event == "message":
                pieces.append(json.loads(event.data)["delta"])
            elif event.event == "error":
                raise RuntimeError(json.loads(event.data)["message"])
    return "".join(pieces)
