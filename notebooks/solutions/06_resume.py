import json

from sse_lab import fetch_event_source


async def resume(url: str, token: str, answer_id: str, last_event_id: str) -> str:
    """The text of the answer after event `last_event_id`; "" when nothing is left (204)."""
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": last_event_id}
    pieces = []
    async for event in fetch_event_source(f"{url}/sse/{answer_id}", headers=headers):
        if event.event == "message":
            pieces.append(json.loads(event.data)["delta"])
    return "".join(pieces)  # fetch_event_source yields nothing for a 204
