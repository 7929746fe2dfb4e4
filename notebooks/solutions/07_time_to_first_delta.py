import time

import aiohttp

from sse_lab import fetch_event_source


async def time_to_first_delta(url: str, token: str, prompt: str) -> float:
    """Seconds from POST {url}/new to the arrival of the answer's first delta."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{url}/new", json={"prompt": prompt}) as response:
            stream_url = url + (await response.json())["stream_url"]
        async for event in fetch_event_source(stream_url, session=http):
            if event.event == "message":
                return time.monotonic() - started  # leaving the loop hangs up
    raise RuntimeError("the answer had no delta")
