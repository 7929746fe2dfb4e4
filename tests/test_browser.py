"""What the workbook says about browsers, checked in a real headless Chromium.

The browser's own EventSource sends a plain GET (no custom headers), reconnects by itself
with Last-Event-ID and stops for good on 204; the chat page streams answers with it and with
a fetch-based reader, and its Stop button stops the answer on the server. The page speaks
Chinese to a browser that prefers it, or with `?lang=zh`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens
from sse_lab.server.page import STATIC_DIR
from sse_lab.sse import EventStreamParser

pytestmark = pytest.mark.browser

PROMPT = "How does reconnection with Last-Event-ID work?"
WAIT_MS = 10_000  # the longest any single wait in the browser may take
# The status line at the end, in Chinese: the finish reason, then the tokens the answer used.
DONE_IN_CHINESE = re.compile(r"^已完成 · finish_reason: stop · \d+ \+ \d+ = \d+ 个 token$")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A lab server at a visible pace, whose streams ask to be retried after 100 ms."""
    db = tmp_path_factory.mktemp("browser") / "lab.db"
    with start_server(token_delay=0.02, retry_ms=100, db_path=str(db)) as server:
        yield server


def open_chat(
    browser: Browser, lab: LabServer, query: str = "", locale: str = "en-US"
) -> Iterator[Page]:
    """The chat page at `query` (`?lang=zh`), in a browser whose language is `locale`."""
    context = browser.new_context(locale=locale)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{lab.url}/{query}#token={lab.tokens['alice']}")
    yield page
    context.close()


@pytest.fixture
def page(browser: Browser, lab: LabServer) -> Iterator[Page]:
    """The chat page, opened with alice's token in the URL fragment."""
    yield from open_chat(browser, lab)


def read_demo_stream(page: Page, url: str, options: dict[str, Any]) -> dict[str, list[Any]]:
    """Read `new EventSource(url, options)` in the page until `done`: each event's `n`, and at
    each dropped connection the id of the last event received (what a reconnect sends back)."""
    seen: dict[str, list[Any]] = page.evaluate(
        """([url, options, waitMs]) => new Promise((resolve, reject) => {
            const source = new EventSource(url, options);
            const seen = { numbers: [], lastIdAtDrops: [] };
            let lastId = "";
            source.onmessage = (event) => {
                seen.numbers.push(JSON.parse(event.data).n);
                lastId = event.lastEventId;
            };
            source.onerror = () => seen.lastIdAtDrops.push(lastId);
            source.addEventListener("done", () => { source.close(); resolve(seen); });
            setTimeout(() => { source.close(); reject(new Error("no done event")); }, waitMs);
        })""",
        [url, options, WAIT_MS],
    )
    return seen


def headers_of(request: dict[str, Any]) -> dict[str, str]:
    return {name.lower(): value for name, value in request["headers"].items()}


def send(page: Page, prompt: str, client: str) -> None:
    page.check(f"#mode-{client}")
    page.fill("#prompt", prompt)
    page.click("#send")


def watch_answer(page: Page) -> list[str]:
    """The answer's text, sampled while the status says connecting or streaming."""
    samples: list[str] = []
    for _ in range(WAIT_MS // 25):
        state, text = page.evaluate(
            "() => [document.getElementById('status').dataset.state,"
            " document.getElementById('answer').textContent]"
        )
        samples.append(text)
        if state not in ("connecting", "streaming"):
            break
        page.wait_for_timeout(25)
    return samples


def stream_requests(lab: LabServer, page: Page) -> list[dict[str, Any]]:
    """The GET requests the server saw for the answer the page is showing."""
    answer_id = page.get_attribute("#answer", "data-answer-id")
    return [r for r in lab.seen_requests(f"/sse/{answer_id}") if r["method"] == "GET"]


def test_native_eventsource_sends_a_plain_get_and_ignores_a_headers_option(
    page: Page, lab: LabServer
) -> None:
    url = "/sse?count=2&interval_ms=10"
    seen = read_demo_stream(page, url, {"headers": {"Authorization": "Bearer x"}})

    assert seen["numbers"] == [1, 2]
    [request] = lab.seen_requests(url)
    assert request["method"] == "GET"
    assert "authorization" not in headers_of(request)
    assert headers_of(request)["accept"] == "text/event-stream"


def test_native_eventsource_reconnects_after_a_drop_and_resumes_with_last_event_id(
    page: Page, lab: LabServer
) -> None:
    url = "/sse?count=6&interval_ms=10&drop_after=2"
    seen = read_demo_stream(page, url, {})

    assert seen["numbers"] == [1, 2, 3, 4, 5, 6]
    resumed_after = [headers_of(r).get("last-event-id") for r in lab.seen_requests(url)]
    assert resumed_after == [None, "2", "4"] == [None, *seen["lastIdAtDrops"]]


def test_native_eventsource_reconnects_after_done_and_closes_on_204(
    page: Page, lab: LabServer
) -> None:
    url = "/sse?count=3&interval_ms=10"
    page.evaluate(
        """(url) => {
            window.source = new EventSource(url);
            source.addEventListener("done", (event) => {
                window.done = { id: event.lastEventId, readyState: source.readyState };
            });
        }""",
        url,
    )
    page.wait_for_function("() => source.readyState === EventSource.CLOSED", timeout=WAIT_MS)

    done = page.evaluate("() => window.done")
    assert done["readyState"] == 1  # still OPEN at `done`: only the 204 closed it
    first, reconnect = lab.seen_requests(url)
    assert "last-event-id" not in headers_of(first)
    assert headers_of(reconnect)["last-event-id"] == done["id"] == "4"


def test_the_pages_parser_reads_awkward_streams_as_sse_lab_does(page: Page) -> None:
    stream = (
        "\ufeffdata: a\r\ndata:b\r\rid: 7\nevent: x\ndata\n\n: heartbeat\nretry: 50\n"
        "retry: 5x\nid: 8\0\ndata:  two spaces\r\n\r\nevent: lone\n\nid\ndata: é\n\ndata: cut"
    )
    sizes = [1, 2, 3, 7, len(stream.encode())]
    parsed = page.evaluate(
        """async ([text, sizes]) => {
            const { EventStreamParser } = await import("/static/event-stream.js");
            const bytes = new TextEncoder().encode(text);
            return sizes.map((size) => {
                const events = [];
                const parser = new EventStreamParser(
                    (e) => events.push([e.type, e.data, e.lastEventId]));
                const decoder = new TextDecoder();
                for (let i = 0; i < bytes.length; i += size) {
                    parser.feed(decoder.decode(bytes.subarray(i, i + size), { stream: true }));
                }
                parser.feed(decoder.decode());
                return { events, retry: parser.retry };
            });
        }""",
        [stream, sizes],
    )

    python = EventStreamParser()
    events = [[e.event, e.data, e.id] for e in python.feed(stream.encode())]
    assert parsed == [{"events": events, "retry": python.retry}] * len(sizes)


def test_the_token_field_is_filled_from_the_url_fragment_the_server_never_sees(
    page: Page, lab: LabServer
) -> None:
    token = lab.tokens["alice"]
    assert page.input_value("#token") == token
    # Neither the page's URL nor a Referer header carried the fragment to the server.
    assert [r for r in lab.seen_requests() if token in repr(r)] == []


@pytest.mark.parametrize("client", ["eventsource", "fetch"])
def test_the_chat_page_shows_the_answer_as_it_streams(page: Page, client: str) -> None:
    send(page, PROMPT, client)
    samples = watch_answer(page)

    full = "".join(answer_tokens(PROMPT))
    assert page.get_attribute("#status", "data-state") == "done"
    assert samples[-1] == full
    assert len({s for s in samples if s and s != full}) >= 3  # partial answers were on screen
    assert all(later.startswith(earlier) for earlier, later in pairwise(samples))


def test_with_eventsource_the_token_rides_in_the_query(page: Page, lab: LabServer) -> None:
    send(page, PROMPT, "eventsource")
    expect(page.locator("#seen-request")).to_contain_text("GET /sse/")

    [request] = stream_requests(lab, page)
    assert request["url"].endswith("?token=***")
    assert "authorization" not in headers_of(request)
    expect(page.locator("#seen-request")).to_contain_text("?token=***")
    expect(page.locator("#seen-headers")).not_to_contain_text("Authorization")


def test_the_page_shows_the_names_of_the_cookies_it_sent_not_their_values(
    page: Page, lab: LabServer
) -> None:
    # JupyterLab's login cookie on 127.0.0.1: Chromium sends it to every port of the host.
    login = {"name": "username-127-0-0-1-8899", "value": "LOGINVALUE", "url": lab.url}
    page.context.add_cookies([login, {"name": "_xsrf", "value": "XSRFVALUE", "url": lab.url}])
    send(page, PROMPT, "eventsource")
    expect(page.locator("#seen-headers")).to_contain_text("username-127-0-0-1-8899=***")
    expect(page.locator("#seen-headers")).not_to_contain_text("VALUE")
    assert "VALUE" not in repr(stream_requests(lab, page))


def test_the_eventsource_url_is_the_short_lived_one_from_post_new(
    page: Page, lab: LabServer
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    with page.expect_response(lambda response: response.url.endswith("/new")) as new:
        send(page, PROMPT, "eventsource")
    expect(page.locator("#status")).to_have_attribute("data-state", "done")

    created = new.value.json()
    streams = [url for url in requested if "/sse/" in url]
    assert streams == [lab.url + created["eventsource_url"]]  # what Chromium asked for
    assert "?token=st." in streams[0]
    assert not [url for url in requested if lab.tokens["alice"] in url]


def test_with_fetch_the_token_rides_in_the_authorization_header(page: Page, lab: LabServer) -> None:
    send(page, PROMPT, "fetch")
    expect(page.locator("#seen-request")).to_contain_text("GET /sse/")

    [request] = stream_requests(lab, page)
    assert "token=" not in request["url"]
    assert headers_of(request)["authorization"] == "Bearer ***"
    expect(page.locator("#seen-headers")).to_contain_text("Bearer ***")


def test_a_wrong_token_shows_the_servers_error(page: Page) -> None:
    page.fill("#token", "not-a-token")
    send(page, PROMPT, "fetch")

    expect(page.locator("#status")).to_have_attribute("data-state", "error")
    expect(page.locator("#status")).to_contain_text("401")


@pytest.fixture
def slow_page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    """The chat page on a server whose model is slow enough to stop mid-answer."""
    with start_server(token_delay=0.05, db_path=str(tmp_path / "slow.db")) as slow_lab:
        yield from open_chat(browser, slow_lab)


@pytest.mark.parametrize("client", ["eventsource", "fetch"])
def test_stop_ends_the_answer_early(slow_page: Page, client: str) -> None:
    send(slow_page, PROMPT, client)
    slow_page.wait_for_function("() => document.getElementById('answer').textContent")
    slow_page.click("#stop")
    expect(slow_page.locator("#status")).to_have_attribute("data-state", "stopped")

    shown = slow_page.text_content("#answer") or ""
    full = "".join(answer_tokens(PROMPT))
    assert full.startswith(shown)
    assert len(shown) < len(full)


def page_texts(page: Page) -> dict[str, str | None]:
    """What a reader sees of the page's language: its `lang`, title, labels and status."""
    texts: dict[str, str | None] = page.evaluate(
        """() => ({
            lang: document.documentElement.lang,
            title: document.title,
            seen: document.getElementById("seen-title").textContent,
            send: document.getElementById("send").textContent,
            stop: document.getElementById("stop").textContent,
            status: document.getElementById("status").textContent,
            prompt: document.getElementById("prompt").placeholder,
        })"""
    )
    return texts


CHINESE = {
    "lang": "zh-CN",
    "title": "SSE Lab · 聊天",
    "seen": "服务器看到的请求",
    "send": "发送",
    "stop": "停止生成",
    "status": "空闲",
    "prompt": "用 Last-Event-ID 断线重连是怎么实现的？",
}
ENGLISH = {
    "lang": "en",
    "title": "SSE Lab · chat",
    "seen": "What the server saw",
    "send": "Send",
    "stop": "Stop",
    "status": "idle",
    "prompt": PROMPT,
}


@pytest.mark.parametrize(
    ("locale", "query", "texts"),
    [
        ("zh-CN", "", CHINESE),
        ("zh-TW", "", CHINESE),
        ("en-US", "", ENGLISH),
        ("en-US", "?lang=zh", CHINESE),
        ("zh-CN", "?lang=en", ENGLISH),
    ],
)
def test_the_page_speaks_the_browsers_language_unless_its_url_says_lang(
    browser: Browser, lab: LabServer, locale: str, query: str, texts: dict[str, str]
) -> None:
    for page in open_chat(browser, lab, query, locale):
        expect(page.locator("#send")).not_to_be_empty()  # strings.js has run
        assert page_texts(page) == texts


@pytest.mark.parametrize("client", ["eventsource", "fetch"])
def test_in_chinese_the_answer_still_streams(browser: Browser, lab: LabServer, client: str) -> None:
    for page in open_chat(browser, lab, "?lang=zh"):
        send(page, PROMPT, client)
        samples = watch_answer(page)

        assert samples[-1] == "".join(answer_tokens(PROMPT))
        assert len({s for s in samples if s and s != samples[-1]}) >= 3
        expect(page.locator("#status")).to_have_text(DONE_IN_CHINESE)
        expect(page.locator("#seen-request")).to_contain_text("GET /sse/")


def test_every_english_text_of_the_page_has_a_chinese_twin(page: Page) -> None:
    strings = page.evaluate("""async () => (await import("/static/strings.js")).STRINGS""")
    english, chinese = strings.pop("en"), strings.pop("zh")
    assert strings == {}  # no third language that the test does not know
    assert english.keys() == chinese.keys()
    assert all(text.strip() for text in [*english.values(), *chinese.values()])


def test_the_pages_html_holds_no_text_of_its_own_every_text_has_a_key(page: Page) -> None:
    parser = PageText()
    parser.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    english = page.evaluate("""async () => (await import("/static/strings.js")).STRINGS.en""")
    assert parser.text.strip() == ""
    assert parser.shown_attributes == []
    assert parser.keys and parser.keys <= english.keys()


class PageText(HTMLParser):
    """What an HTML file shows by itself: its text, and attributes a reader sees (`alt`,
    `title`, `placeholder`, `aria-label`); and the keys of strings.js it names."""

    SHOWN = frozenset({"alt", "title", "placeholder", "aria-label"})

    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.shown_attributes: list[str] = []
        self.keys: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in self.SHOWN:
                self.shown_attributes.append(f"{tag} {name}={value}")
            elif name in ("data-text", "data-placeholder") and value:
                self.keys.add(value)

    def handle_data(self, data: str) -> None:
        self.text += data
