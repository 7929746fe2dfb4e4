import aiohttp

from sse_lab import EventStreamParser, ServerSentEvent


async def post_events(url: str, body: dict, headers: dict) -> list[ServerSentEvent]:
    """Every event of the event stream that answers a POST of `body` (JSON) with `headers`."""
    parser = EventStreamParser()
    events: list[ServerSentEvent] = []
    request_headers = {"Accept": "text/event-stream", **headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=request_headers) as response,
    ):
        response.raise_for_status()
        async for chunk in response.content.iter_any():
            events.extend(parser.feed(chunk))
    return events
