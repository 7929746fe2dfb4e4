"""Short-lived stream tokens: POST /new hands out an `eventsource_url` that reads one answer for
minutes, without the user's own token. Expired, altered and other answers' tokens get 401."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from yarl import URL

from conftest import read_events
from sse_lab.__main__ import parse_args
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens
from sse_lab.server.auth import InvalidStreamToken, check_stream_token, issue_stream_token

PROMPT = "Why a short-lived token?"


async def ask(lab: LabServer, http: aiohttp.ClientSession, prompt: str = PROMPT) -> dict[str, str]:
    async with http.post(
        f"{lab.url}/new", json={"prompt": prompt}, headers=lab.auth_header("alice")
    ) as response:
        assert response.status == 201
        created: dict[str, str] = await response.json()
    return created


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def test_post_new_returns_an_eventsource_url_without_the_users_own_token(lab, http) -> None:
    created = await ask(lab, http)

    assert created["eventsource_url"].startswith(f"/sse/{created['id']}?token=st.")
    assert lab.tokens["alice"] not in created["eventsource_url"]
    assert created["stream_url"] == f"/sse/{created['id']}"  # for clients that send a header


async def test_the_eventsource_url_streams_the_answer_with_no_header_at_all(lab, http) -> None:
    created = await ask(lab, http)
    async with http.get(lab.url + created["eventsource_url"]) as response:
        assert response.status == 200
        events = await read_events(response)

    text = "".join(json.loads(e.data)["delta"] for e in events if e.event == "message")
    assert text == "".join(answer_tokens(PROMPT))
    assert events[-1].event == "done"
    [seen] = [r for r in lab.seen_requests("/sse/") if r["method"] == "GET"]
    assert seen["url"] == f"/sse/{created['id']}?token=***"  # masked in the logs all the same


def tampered(token: str) -> str:
    """The token with the last character of its signature changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def with_user(token: str, user: str) -> str:
    prefix, expires, _, signature = token.split(".")
    return ".".join([prefix, expires, user, signature])


def with_expiry(token: str, expires: int) -> str:
    prefix, _, user, signature = token.split(".")
    return ".".join([prefix, str(expires), user, signature])


def respelt(token: str, spell: Callable[[str], str]) -> str:
    """The token with its expiry written otherwise: the same number, other characters."""
    prefix, expires, user, signature = token.split(".")
    return ".".join([prefix, spell(expires), user, signature])


BAD_TOKENS = {
    "expired": lambda lab, answer_id, other: issue_stream_token(
        lab.settings.stream_secret, "alice", answer_id, 300, now=time.time() - 301
    ),
    "for another answer": lambda lab, answer_id, other: token_of(other["eventsource_url"]),
    "altered signature": lambda lab, answer_id, other: tampered(
        issue_stream_token(lab.settings.stream_secret, "alice", answer_id, 300)
    ),
    "another user written in": lambda lab, answer_id, other: with_user(
        issue_stream_token(lab.settings.stream_secret, "alice", answer_id, 300), "bob"
    ),
    "a later expiry written in": lambda lab, answer_id, other: with_expiry(
        issue_stream_token(lab.settings.stream_secret, "alice", answer_id, 300),
        int(time.time()) + 86_400,
    ),
    "signed with another secret": lambda lab, answer_id, other: issue_stream_token(
        "not-the-servers-secret", "alice", answer_id, 300
    ),
    "not a token at all": lambda lab, answer_id, other: "st.soon.alice.x",
    "a leading zero written in": lambda lab, answer_id, other: respelt(
        issue_stream_token(lab.settings.stream_secret, "alice", answer_id, 300),
        lambda expires: "0" + expires,
    ),
    "the expiry in full-width digits": lambda lab, answer_id, other: respelt(
        issue_stream_token(lab.settings.stream_secret, "alice", answer_id, 300),
        lambda expires: "".join(chr(ord(digit) - ord("0") + ord("０")) for digit in expires),
    ),
}
REASONS = {
    "expired": "expired",
    "not a token at all": "not a stream token",
    "a leading zero written in": "not a stream token",  # the same time, but not as issued
    "the expiry in full-width digits": "not a stream token",
}


@pytest.mark.parametrize("kind", BAD_TOKENS)
async def test_a_bad_stream_token_gets_401_with_the_reason(lab, http, kind: str) -> None:
    answer_id, other = (await ask(lab, http))["id"], await ask(lab, http, "another question")
    token = BAD_TOKENS[kind](lab, answer_id, other)

    async with http.get(f"{lab.url}/sse/{answer_id}", params={"token": token}) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        error = (await response.json())["error"]
    assert REASONS.get(kind, "not valid for this answer") in error


ODD_EXPIRIES = {"a superscript digit": "%C2%B2", "5,000 digits": "9" * 5000}


@pytest.mark.parametrize("expires", ODD_EXPIRIES.values(), ids=ODD_EXPIRIES.keys())
async def test_an_odd_expiry_is_a_401_on_get_and_head_even_beside_a_good_header(
    lab, http, caplog, expires: str
) -> None:
    answer_id = (await ask(lab, http))["id"]
    url = URL(f"{lab.url}/sse/{answer_id}?token=st.{expires}.alice.x", encoded=True)
    for method in ("GET", "HEAD"):
        for headers in ({}, lab.auth_header()):
            async with http.request(method, url, headers=headers) as response:
                assert response.status == 401, (method, headers)
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


async def test_a_bad_stream_token_says_nothing_about_which_ids_exist(lab, http) -> None:
    forged = issue_stream_token("guess", "alice", "ans_unknown", 300)
    async with http.get(f"{lab.url}/sse/ans_unknown", params={"token": forged}) as response:
        assert response.status == 401  # as for a real id: no 404 that would confirm anything


async def test_a_stream_token_reads_but_cannot_stop_an_answer(lab, http) -> None:
    created = await ask(lab, http)
    async with http.delete(lab.url + created["eventsource_url"]) as response:
        assert response.status == 401


async def test_another_server_with_the_same_secret_accepts_the_token(tmp_path: Path) -> None:
    # Two workers behind one port: one issues the token, the other streams the answer.
    shared = {"token_delay": 0, "db_path": str(tmp_path / "lab.db"), "stream_secret": "s3cret"}
    with start_server(**shared) as first:
        async with aiohttp.ClientSession() as http:
            created = await ask(first, http)
        users = first.tokens
    for secret, status in (("s3cret", 200), ("another", 401)):
        with start_server(**{**shared, "stream_secret": secret}, users=users) as second:
            async with (
                aiohttp.ClientSession() as http,
                http.get(second.url + created["eventsource_url"]) as response,
            ):
                assert response.status == status, secret


def test_a_token_is_good_until_it_expires_and_names_its_user() -> None:
    token = issue_stream_token("k", "alice", "ans_1", seconds=300, now=1_000)

    assert check_stream_token("k", token, "ans_1", now=1_299) == "alice"
    with pytest.raises(InvalidStreamToken, match="expired"):
        check_stream_token("k", token, "ans_1", now=1_300)
    with pytest.raises(InvalidStreamToken, match="not valid for this answer"):
        check_stream_token("k", token, "ans_2", now=1_000)


def test_the_stream_secret_comes_from_the_command_line_or_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("SSE_LAB_STREAM_SECRET", raising=False)
    assert parse_args(["serve"]).stream_secret is None  # a random one, for this process only
    assert parse_args(["serve", "--stream-secret", "s3cret"]).stream_secret == "s3cret"
    monkeypatch.setenv("SSE_LAB_STREAM_SECRET", "from-env")
    assert parse_args(["serve"]).stream_secret == "from-env"
