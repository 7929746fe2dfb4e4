import json

import aiohttp

from sse_lab import fetch_event_source


async def tokens_after_leaving(url: str, token: str, prompt: str, read: int) -> int:
    """Read `read` deltas of a new answer, leave, come back: the tokens written meanwhile."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.post(f"{url}/new", json={"prompt": prompt}) as response:
            stream_url = url + (await response.json())["stream_url"]
        last_id, deltas = "0", 0
        async for event in fetch_event_source(stream_url, session=http):
            last_id = event.id or last_id
            deltas += event.event == "message"
            if deltas == read:
                break  # leaving the loop hangs up; the model goes on writing
        back = {"Last-Event-ID": last_id}
        async for event in fetch_event_source(stream_url, headers=back, session=http):
            if event.event == "done":
                # usage counts tokens as the model does; counting the deltas that came back
                # gives the same only where each delta is one token (the built-in model):
                # a real provider's delta may carry several tokens, or none.
                return json.loads(event.data)["usage"]["completion_tokens"] - read
    raise RuntimeError("the answer ended without `done`")
