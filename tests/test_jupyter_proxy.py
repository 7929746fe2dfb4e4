"""The lab reached as on a remote JupyterLab: through a real Jupyter server's proxy.

A learner's browser that is not on the kernel's machine reaches the lab server only through
jupyter-server-proxy, at `/proxy/PORT/`. There the chat page must load, ask, stream (the
proxy streams only a request whose `Accept` is exactly `text/event-stream`, and buffers any
other till its end), stop, and show what the server saw, with either of its clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from test_browser import DONE_IN_CHINESE, send

from conftest import Jupyter
from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens
from sse_lab.server.page import base_tag

PROMPT = "How does reconnection with Last-Event-ID work?"
TOKEN_DELAY = 0.02  # the model's pace: the answer takes about 2 s, long enough to watch
GENERATION_S = len(answer_tokens(PROMPT)) * TOKEN_DELAY
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A lab server at a visible pace."""
    db = tmp_path_factory.mktemp("proxy") / "lab.db"
    with start_server(token_delay=TOKEN_DELAY, db_path=str(db)) as server:
        yield server


@pytest.fixture
def logged_in(browser: Browser, jupyter: Jupyter, lab: LabServer) -> Iterator[Page]:
    """A page logged in to the Jupyter server only (its cookie); every request it makes is
    checked, at the end, to have gone to the Jupyter server, never to the lab's own port."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{jupyter.url}/?token={jupyter.token}")
    yield page
    context.close()
    assert requested and all(url.startswith(f"{jupyter.url}/") for url in requested)
    assert not [url for url in requested if lab.url in url]


def open_chat(page: Page, address: str, lab: LabServer) -> None:
    page.goto(f"{address}#token={lab.tokens['alice']}")
    expect(page.locator("#token")).to_have_value(lab.tokens["alice"])  # chat.js ran
    watch_arrivals(page)


def watch_arrivals(page: Page) -> None:
    """Record, in the page, each time the answer's text grows: `arrivals(page)` reads them."""
    page.evaluate(
        """() => {
            window.arrivals = [];
            const answer = document.getElementById("answer");
            window.answerObserver?.disconnect();  // the page's earlier question's
            window.answerObserver = new MutationObserver(() => arrivals.push(
                [performance.now() / 1000, answer.textContent.length],
            ));
            answerObserver.observe(answer, { childList: true, characterData: true, subtree: true });
        }"""
    )


def arrivals(page: Page) -> list[tuple[float, int]]:
    """When the answer's text grew, and to what length, as the page saw it."""
    found: list[list[Any]] = page.evaluate("() => arrivals.filter(([, length]) => length > 0)")
    return [(time, length) for time, length in found]


def assert_streamed(growth: list[tuple[float, int]]) -> None:
    """The text grew in many steps spread over the answer's generation, not all at its end."""
    lengths = [length for _, length in growth]
    assert lengths[-1] == len("".join(answer_tokens(PROMPT)))
    assert all(a < b for a, b in pairwise(lengths))
    assert len(growth) >= 10, growth
    assert growth[-1][0] - growth[0][0] >= GENERATION_S / 2, growth


@pytest.mark.browser
@pytest.mark.parametrize(
    ("client", "stream_path"),
    [("eventsource", "/sse/"), ("fetch", "/sse/"), ("tabs", "/answers/events?follow=")],
)
def test_the_chat_page_streams_through_the_jupyter_servers_proxy(
    logged_in: Page, jupyter: Jupyter, lab: LabServer, client: str, stream_path: str
) -> None:
    open_chat(logged_in, f"{jupyter.proxied(lab)}/", lab)
    send(logged_in, PROMPT, client)

    expect(logged_in.locator("#status")).to_have_attribute("data-state", "done")
    assert_streamed(arrivals(logged_in))
    # /debug/requests, through the proxy too: the stream's request as the lab server saw it.
    expect(logged_in.locator("#seen-request")).to_contain_text(f"GET {stream_path}")
    headers = logged_in.text_content("#seen-headers") or ""
    assert "text/event-stream" in headers
    # The Jupyter server's login cookie came along, and the log shows its name only.
    [login] = [c for c in logged_in.context.cookies() if c["name"].startswith("username-")]
    assert f"{login['name']}=***" in headers
    assert login["value"] not in headers


@pytest.mark.browser
@pytest.mark.parametrize("client", ["eventsource", "fetch"])
def test_the_page_opened_without_its_trailing_slash_works_and_stops(
    logged_in: Page, jupyter: Jupyter, lab: LabServer, client: str
) -> None:
    # jupyter-server-proxy serves /proxy/PORT as the lab's `/` itself, with no redirect:
    # only the page's <base> keeps its relative URLs under /proxy/PORT/.
    open_chat(logged_in, jupyter.proxied(lab), lab)
    send(logged_in, PROMPT, client)
    logged_in.wait_for_function("() => document.getElementById('answer').textContent")
    logged_in.click("#stop")

    expect(logged_in.locator("#status")).to_have_attribute("data-state", "stopped")
    shown = logged_in.text_content("#answer") or ""
    assert 0 < len(shown) < len("".join(answer_tokens(PROMPT)))


@pytest.mark.browser
def test_the_page_in_chinese_loads_its_strings_through_the_proxy(
    logged_in: Page, jupyter: Jupyter, lab: LabServer
) -> None:
    # strings.js is one more module under the page's <base>: behind the proxy's prefix too.
    open_chat(logged_in, f"{jupyter.proxied(lab)}?lang=zh", lab)
    expect(logged_in.locator("#stop")).to_have_text("停止生成")
    send(logged_in, PROMPT, "fetch")

    expect(logged_in.locator("#status")).to_have_text(DONE_IN_CHINESE)


@pytest.mark.parametrize(
    ("prefix", "tag"),
    [
        ("/user/alice/proxy/8000", '<base href="/user/alice/proxy/8000/">'),
        ("/user/a%40b.org/proxy/8000", '<base href="/user/a%40b.org/proxy/8000/">'),
        ("", '<base href="./">'),
        ("//elsewhere.example/x", '<base href="./">'),
        ('/x"><script>alert(1)</script>', '<base href="./">'),
        ("/a/../b", '<base href="/a/../b/">'),  # still a path on the same origin
        ("relative/path", '<base href="./">'),
    ],
)
def test_the_pages_base_follows_a_proxys_prefix_and_only_a_plain_path(
    prefix: str, tag: str
) -> None:
    assert base_tag(prefix) == tag


def test_the_page_carries_the_base_the_proxy_asked_for(lab: LabServer) -> None:
    page = httpx.get(f"{lab.url}/", headers={"X-Forwarded-Prefix": "/user/bob/proxy/1"}).text
    assert '<base href="/user/bob/proxy/1/">' in page
    assert '<script type="module" src="static/chat.js">' in page
    assert '<base href="./">' in httpx.get(f"{lab.url}/").text


def test_the_request_log_masks_every_cookie_and_keeps_its_name(lab: LabServer) -> None:
    cookie = "username-127-0-0-1-8888=2|1:0|secret; _xsrf=2|abc"
    httpx.get(f"{lab.url}/sse?count=1&interval_ms=0", headers={"Cookie": cookie})

    [seen] = lab.seen_requests("/sse?count=1&interval_ms=0")
    assert seen["headers"]["Cookie"] == "username-127-0-0-1-8888=***; _xsrf=***"
