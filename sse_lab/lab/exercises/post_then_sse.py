"""Checks for notebook 06 (POST, then SSE): asking in two steps, and resuming an answer.

Each check starts a lab server of its own (a free port, a fast built-in model), runs the
learner's function against it as user alice, prints a verdict and returns whether every
case passed.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Final

import aiohttp
from yarl import URL

from sse_lab.clients import fetch_event_source
from sse_lab.lab.exercises import (
    Verdict,
    ask_as_alice,
    text_shape_problem,
    values_in_traceback,
    verdict,
    with_hint,
)
from sse_lab.lab.i18n import N_, _
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens

__all__ = ["check_ask_and_stream", "check_resume"]

_TIMEOUT: Final = 10.0  # seconds a learner's function gets before the check gives up
_TOKEN_DELAY: Final = 0.002  # fast, yet an answer takes a moment: a reader must wait for `done`
_PROMPTS: Final = (
    "How does reconnection with Last-Event-ID work?",
    "Why POST the prompt first, then stream?",
)
# HTTP statuses a learner's request may meet, with what they usually mean here
_STATUS_HINTS: Final = {
    401: N_("send the header Authorization: Bearer <token>"),
    404: N_("stream url + stream_url, the address of your own answer"),
    405: N_("POST to /new, GET /sse/{id}"),
    415: N_('send the prompt as JSON: {"prompt": ...}'),
}


async def check_ask_and_stream(ask_and_stream: Callable[[str, str, str], object]) -> Verdict:
    """Whether `await ask_and_stream(url, token, prompt)` POSTs the prompt to `/new`, streams
    its `/sse/{id}` until `done` and returns the answer's text."""
    with start_server(token_delay=_TOKEN_DELAY) as lab:
        for prompt in _PROMPTS:
            call = f"ask_and_stream(url, token, {prompt!r})"
            expected = "".join(answer_tokens(prompt))
            got, problem = await _run(call, ask_and_stream, lab.url, lab.tokens["alice"], prompt)
            problem = problem or _text_problem(call, got, expected)
            if problem:
                problem = with_hint(problem, _post_slip(lab))
            if problem is None and not any(
                r["method"] == "POST" for r in lab.seen_requests("/new")
            ):
                problem = _("the server saw no POST /new: the prompt belongs in a POST body")
            if problem:
                return verdict(problem)
    return verdict(None, _("ask_and_stream asks with POST /new and streams the answer"))


async def check_resume(resume: Callable[[str, str, str, str], object]) -> Verdict:
    """Whether `await resume(url, token, answer_id, last_event_id)` returns exactly the text
    after that event: nothing lost, nothing twice, and "" once the answer is over (204)."""
    finished, running = _PROMPTS
    tokens, later = answer_tokens(finished), answer_tokens(running)
    whole = "".join(tokens)
    done_id = len(tokens) + 1
    cases = (
        (
            finished,
            "5",
            "".join(tokens[5:]),
            _("send the header Last-Event-ID: 5, or ?lastEventId=5"),
        ),
        (finished, "0", whole, _("Last-Event-ID: 0 means from the start")),
        (finished, str(len(tokens)), "", _("after the last delta comes only `done`")),
        (finished, str(done_id), "", _("a reconnect after `done` gets 204 No Content: return ''")),
        (
            running,
            "3",
            "".join(later[3:]),
            _("this answer was still being written: read to `done`"),
        ),
    )
    with start_server(token_delay=_TOKEN_DELAY) as lab:
        token = lab.tokens["alice"]
        finished_id = await ask_as_alice(lab, finished)
        await _read_to_end(lab, finished_id)
        ids = {finished: finished_id}
        for prompt, last_event_id, expected, hint in cases:
            if prompt not in ids:
                ids[prompt] = await ask_as_alice(lab, prompt)
                await _read_to_end(lab, ids[prompt], until_id=last_event_id)
            call = f"resume(url, token, answer_id, {last_event_id!r})"
            got, raised = await _run(call, resume, lab.url, token, ids[prompt], last_event_id)
            problem = raised or _text_problem(call, got, expected)
            if problem and got == whole:
                problem = _("{call} returned the whole answer again").format(call=call)
            if problem:
                # The case's hint is about which part of the answer comes back: beside the
                # point when the text is of the wrong kind (None, raw data, `done` kept).
                about_the_part = raised is not None or _kind_problem(call, got) is None
                return verdict(with_hint(problem, hint) if about_the_part else problem)
    return verdict(None, _("resume picks up right after the last event seen"))


async def _run(
    call: str, function: Callable[..., object], url: str, *args: object
) -> tuple[object, str | None]:
    """The learner's function's result (awaited if async, within the time limit), or a problem."""
    try:
        result = function(url, *args)
        if inspect.isawaitable(result):
            result = await asyncio.wait_for(result, _TIMEOUT)
    except TimeoutError:
        return None, _("{call} did not return within {seconds:.0f} s").format(
            call=call, seconds=_TIMEOUT
        )
    except Exception as error:
        raised = _("{call} raised {error}: {message}").format(
            call=call, error=type(error).__name__, message=error
        )
        status = getattr(error, "status", None) or getattr(
            getattr(error, "response", None), "status_code", None
        )
        if status in _STATUS_HINTS:  # an error that says its status (raise_for_status)
            return None, _("{raised} (HTTP {status}: {hint})").format(
                raised=raised, status=status, hint=_(_STATUS_HINTS[status])
            )
        if (response := _failed_response(error)) is not None:
            return None, _("{raised}, because {answered}").format(
                raised=raised, answered=await _answered(response, url)
            )
        return None, raised
    return result, None


def _failed_response(error: Exception) -> aiohttp.ClientResponse | None:
    """The refused response the learner's code held when it failed, if any: reading
    `stream_url` from a refusal's JSON raises KeyError: 'stream_url', which hides it."""
    return next(
        (
            value
            for value in values_in_traceback(error)
            if isinstance(value, aiohttp.ClientResponse) and value.status >= 400
        ),
        None,
    )


async def _answered(response: aiohttp.ClientResponse, url: str) -> str:
    """What the server said to a refused request (its status, and the JSON `error` of the
    lab's refusals), where the request went if not to `url` or `/new`, and to check the status."""
    try:
        said = f": {(await response.json())['error']!r}"  # the body the learner read, kept
    except Exception:
        said = ""
    answered = _("{request} was answered {status}{said}").format(
        request=f"{response.method} {response.url}",
        status=f"{response.status} {response.reason}",
        said=said,
    )
    check = _("check the status, e.g. response.raise_for_status(), before reading the JSON")
    if response.url.origin() != URL(url).origin():
        return _("{answered} (send it to the `url` your function is given, {url}; {check})").format(
            answered=answered, url=url, check=check
        )
    if response.method == "POST" and response.url.path != "/new":
        return _("{answered} (POST the prompt to {url}/new; {check})").format(
            answered=answered, url=url, check=check
        )
    # the server's error says what to change
    return _("{answered} ({check})").format(answered=answered, check=check)


def _post_slip(lab: LabServer) -> str | None:
    """What was wrong with the learner's last `POST /new`, as the server saw it, if anything."""
    posts = [r for r in lab.seen_requests("/new") if r["method"] == "POST"]
    if not posts:
        return None
    headers = {name.lower(): value for name, value in posts[-1]["headers"].items()}
    if "authorization" not in headers:
        return _("the POST /new carried no Authorization header")
    content_type = headers.get("content-type", _("(none)")).split(";")[0]
    if content_type != "application/json":
        return _(
            "the POST /new body came as {content_type}: send it with json=..., not data=..."
        ).format(content_type=content_type)
    return None


def _kind_problem(call: str, got: object) -> str | None:
    """What is wrong with the text returned whatever part of the answer it holds (None, not
    a str, raw event data, the `done` event's data kept), or None."""
    if (problem := text_shape_problem(call, got)) is not None:
        return problem
    if isinstance(got, str) and "finish_reason" in got:
        return _("{call} kept the `done` event's data: it is not part of the answer").format(
            call=call
        )
    return None


def _text_problem(call: str, got: object, expected: str) -> str | None:
    """What is wrong with the text returned, or None."""
    if got == expected:
        return None
    if (problem := _kind_problem(call, got)) is not None:
        return problem
    assert isinstance(got, str)  # _kind_problem checked it is one
    if expected.startswith(got):
        return _("{call} returned {got} of {expected} characters: read until `done`").format(
            call=call, got=len(got), expected=len(expected)
        )
    return _("{call} returned {got}, expected {expected}").format(
        call=call, got=_short(got), expected=_short(expected)
    )


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


async def _read_to_end(lab: LabServer, answer_id: str, until_id: str | None = None) -> None:
    """Wait until the answer is over (or has sent event `until_id`), by reading its stream."""
    url = f"{lab.url}/sse/{answer_id}"
    async with asyncio.timeout(_TIMEOUT):
        async for event in fetch_event_source(url, headers=lab.auth_header("alice")):
            if event.id == until_id:
                return
