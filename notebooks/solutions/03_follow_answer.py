import aiohttp


async def follow_answer(ws_url: str, headers: dict, answer_id: str) -> str:
    """The whole answer over a WebSocket, reconnecting after each drop with the last seq seen."""
    pieces: list[str] = []
    last_seq = 0
    async with aiohttp.ClientSession() as session:
        for _ in range(50):  # bounded: give up rather than loop for ever
            async with session.ws_connect(ws_url, headers=headers) as ws:
                await ws.send_json({"type": "follow", "id": answer_id, "after": last_seq})
                async for message in ws:  # ends when the socket closes, cleanly or not
                    data = message.json()
                    if data["type"] == "delta":
                        pieces.append(data["text"])
                        last_seq = data["seq"]
                    elif data["type"] == "done":
                        return "".join(pieces)
                    elif data["type"] == "error":
                        raise RuntimeError(data["message"])
            # a real client would also wait a little here, growing the wait on each failure
    raise RuntimeError("the answer did not finish after 50 connections")
