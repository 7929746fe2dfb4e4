"""The chat design: `POST /new` stores a prompt, `GET /sse/{id}` streams its answer.

Also `GET /answers/{id}` (where to stream it again, for a page that reloads),
`DELETE /sse/{id}`, and `GET /ask?prompt=`, the query-string design it replaces.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from sse_lab.server.auth import issue_stream_token, require_user, stream_token_user
from sse_lab.server.bodies import BadJSON, error_response, json_response, read_json, shown
from sse_lab.server.state import ANSWERS, SETTINGS
from sse_lab.server.streams import batch_bytes, event_stream, parse_last_event_id, stream_head
from sse_lab.stores.base import Answer

routes = web.RouteTableDef()


@routes.post("/new")
async def new_answer(request: web.Request) -> web.Response:
    """Store the prompt, start its answer, return where to stream it from."""
    user = require_user(request)
    settings = request.app[SETTINGS]
    if request.content_type != "application/json":
        return error_response(415, "send the prompt as JSON: Content-Type: application/json")
    try:
        body: Any = await read_json(request)
    except BadJSON as bad:
        return error_response(bad.status, bad.message)
    prompt = body.get("prompt") if isinstance(body, dict) else None
    if not isinstance(prompt, str) or not prompt.strip():
        return error_response(400, 'the body needs a non-empty string field "prompt"')
    limit = settings.max_prompt_chars
    if len(prompt) > limit:
        return error_response(413, f"the prompt has {len(prompt)} characters; at most {limit}")
    answer = await request.app[ANSWERS].start(user, prompt)
    urls = _stream_urls(request, answer)
    return json_response(
        {"id": answer.id, **urls}, status=201, headers={"Location": urls["stream_url"]}
    )


@routes.get("/answers/{id}")
async def answer_info(request: web.Request) -> web.Response:
    """An answer's status and where to stream it, with a fresh stream token: what a page
    that reloads needs to rejoin it, as the token of `POST /new` lasts minutes."""
    user = require_user(request)
    answer = await require_own_answer(request, user, request.match_info["id"])
    return json_response(
        {"id": answer.id, "status": answer.status, **_stream_urls(request, answer)}
    )


@routes.get("/sse/{id}")
async def stream_answer(request: web.Request) -> web.StreamResponse:
    """Stream the answer from where this reader left off; 204 when nothing is left."""
    answers = request.app[ANSWERS]
    answer_id = await _own_answer_id(request, stream_token_ok=True)
    after = parse_last_event_id(request)
    # Decided before the 200: once event_stream has sent the head, no status can follow.
    progress = await answers.store.read(answer_id, after)
    if progress.reader_ahead(after):
        return error_response(
            400, f"Last-Event-ID {after} is ahead of this answer: it has {progress.last_seq} so far"
        )
    if after > progress.last_seq:
        return web.Response(status=204)  # the reader saw the end: a browser stops reconnecting
    if request.method == "HEAD":
        return stream_head()
    return await _stream(request, answer_id, after)


@routes.delete("/sse/{id}")
async def stop_answer(request: web.Request) -> web.Response:
    """Stop generating: the answer's readers end with `done`, finish_reason `stopped`."""
    answer_id = await _own_answer_id(request)
    if not await request.app[ANSWERS].stop(answer_id):
        return error_response(409, "this answer had already finished")
    return json_response({"id": answer_id, "finish_reason": "stopped"})


@routes.get("/ask")
async def ask(request: web.Request) -> web.StreamResponse:
    """The query-string design: the prompt rides in the URL, its answer comes straight back.

    The answer lives only as long as this request: a client that leaves stops it.
    """
    settings = request.app[SETTINGS]
    url_bytes = len(request.raw_path.encode())
    if url_bytes > settings.max_url_bytes:
        return error_response(
            414,
            f"the URL has {url_bytes} bytes; this server takes at most {settings.max_url_bytes}",
        )
    if "Last-Event-ID" in request.headers or "lastEventId" in request.query:
        parse_last_event_id(request)  # checked as on /sse: a malformed one is a 400
        return web.Response(status=204)  # a client reconnecting: there is nothing to resume
    prompt = request.query.get("prompt", "")
    if not prompt.strip():
        return error_response(400, "add the question as ?prompt=...")
    if request.method == "HEAD":
        return stream_head()  # starts no answer
    answers = request.app[ANSWERS]
    answer = await answers.start("anonymous", prompt)
    try:
        return await _stream(request, answer.id, 0)
    finally:
        await answers.stop(answer.id)


async def _own_answer_id(request: web.Request, *, stream_token_ok: bool = False) -> str:
    """The `{id}` of the URL if the user owns it; 404 alike for others' ids and unknown ones.
    With `stream_token_ok` (reading, never stopping), a stream token in `?token=` will do."""
    answer_id = request.match_info["id"]
    user = stream_token_user(request, answer_id) if stream_token_ok else None
    await require_own_answer(request, user or require_user(request), answer_id)
    return answer_id


async def require_own_answer(request: web.Request, user: str, answer_id: str) -> Answer:
    """The answer if `user` owns it; a 404 otherwise, alike for others' ids and unknown ones."""
    answer = await request.app[ANSWERS].store.get(answer_id)
    if answer is None or answer.owner != user:
        raise web.HTTPNotFound(text=f"no answer {shown(answer_id)} for this user")
    return answer


def _stream_urls(request: web.Request, answer: Answer) -> dict[str, str]:
    """Where to stream `answer`: `stream_url` for a client that sends the Authorization
    header; `eventsource_url` for one that cannot, such as a browser's EventSource, with a
    token in the URL that reads this one answer for a few minutes (server/auth.py)."""
    settings = request.app[SETTINGS]
    token = issue_stream_token(
        settings.stream_secret, answer.owner, answer.id, settings.stream_token_seconds
    )
    stream_url = f"/sse/{answer.id}"
    return {
        "stream_url": stream_url,
        "eventsource_url": f"{stream_url}?{urlencode({'token': token})}",
    }


async def _stream(request: web.Request, answer_id: str, after: int) -> web.StreamResponse:
    """Send the answer's events after `after`: what is stored, then each batch as the store
    publishes it (the same batches, encoded once, for all of its readers), the end last."""
    async with event_stream(request) as stream:
        async for batch in request.app[ANSWERS].follow(answer_id, after):
            await stream.send(batch_bytes(batch))
    return stream.response
