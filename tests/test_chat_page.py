"""The chat page keeps its answer across a reload, in a real headless Chromium.

The page's link names the answer it shows (`#token=...&answer=ans_...`) and the tab keeps
the text received so far with the last event's id (sessionStorage): a reload shows that
text and resumes after that id, a new tab with the link reads the answer from the start,
a finished answer comes back whole without a request. The `done` event's token counts show
in the status line (a stopped answer has none), and the answer is rendered as Markdown
(static/markdown.js) whose text stays text, whatever the model writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens
from sse_lab.server.page import STATIC_DIR
from sse_lab.sse import EventStreamParser

pytestmark = pytest.mark.browser

PROMPT = "How does reconnection with Last-Event-ID work?"
FULL = "".join(answer_tokens(PROMPT))  # 97 tokens: about 3 s at the lab's pace
WAIT_MS = 10_000
CLIENTS = ["eventsource", "fetch"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A lab server slow enough to reload the page in the middle of an answer."""
    db = tmp_path_factory.mktemp("chat_page") / "lab.db"
    with start_server(token_delay=0.03, retry_ms=100, db_path=str(db)) as server:
        yield server


@pytest.fixture
def page(browser: Browser, lab: LabServer) -> Iterator[Page]:
    """The chat page with alice's token in its link, in a context (a profile) of its own."""
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{lab.url}/#token={lab.tokens['alice']}")
    yield page
    context.close()


def send(page: Page, prompt: str, client: str) -> str:
    """Ask `prompt` with `client`; the id of the answer the page shows."""
    page.check(f"#mode-{client}")
    page.fill("#prompt", prompt)
    page.click("#send")
    return str(page.wait_for_function("() => answer.dataset.answerId").json_value())


def linked_answer(page: Page) -> str:
    """The `answer` of the page's URL fragment ('' if none)."""
    return parse_qs(urlsplit(page.url).fragment).get("answer", [""])[0]


def answer_text(page: Page) -> str:
    return page.text_content("#answer") or ""


def wait_for_text(page: Page, length: int = 20) -> str:
    """The answer's text once it has `length` characters: part of it, mid-stream."""
    page.wait_for_function(
        f"() => document.getElementById('answer').textContent.length >= {length}"
    )
    return answer_text(page)


def wait_until_done(page: Page) -> None:
    expect(page.locator("#status")).to_have_attribute("data-state", "done", timeout=WAIT_MS)


def stream_requests(lab: LabServer, answer_id: str) -> list[dict[str, Any]]:
    """The GET /sse/{id} requests the server saw for the answer, in order."""
    return [r for r in lab.seen_requests(f"/sse/{answer_id}") if r["method"] == "GET"]


def resumed_after(request: dict[str, Any]) -> str | None:
    """The Last-Event-ID a stream request carried: its header, else `?lastEventId=`."""
    headers = {name.lower(): value for name, value in request["headers"].items()}
    query = parse_qs(urlsplit(request["url"]).query)
    return headers.get("last-event-id") or query.get("lastEventId", [None])[0]


@pytest.mark.parametrize("client", CLIENTS)
def test_a_reload_mid_answer_rejoins_it_with_nothing_lost_or_twice(
    page: Page, lab: LabServer, client: str
) -> None:
    answer_id = send(page, PROMPT, client)
    before = wait_for_text(page)
    assert len(before) < len(FULL)
    assert linked_answer(page) == answer_id

    page.reload()
    assert answer_text(page).startswith(before)  # the saved text, shown before any new event
    wait_until_done(page)

    assert answer_text(page) == FULL
    assert linked_answer(page) == answer_id
    first, rejoined = stream_requests(lab, answer_id)
    assert resumed_after(first) is None
    assert int(resumed_after(rejoined) or 0) > 0  # resumed, not read again from the start
    # EventSource's fresh stream token came from GET /answers/{id}, in its URL.
    assert ("?token=***" in rejoined["url"]) == (client == "eventsource")
    assert len(lab.seen_requests(f"/answers/{answer_id}")) == 1


def test_a_reload_mid_answer_in_the_shared_stream_resumes_it_too(
    page: Page, lab: LabServer
) -> None:
    # "One connection for all tabs" (static/tabs.js) takes the last event's id as its cursor.
    answer_id = send(page, PROMPT, "tabs")
    before = wait_for_text(page)
    page.reload()
    assert answer_text(page).startswith(before)
    wait_until_done(page)

    assert answer_text(page) == FULL
    requests = lab.seen_requests("/answers/events")
    follows = [f for r in requests for f in parse_qs(urlsplit(r["url"]).query)["follow"]]
    first, rejoined = [int(f.rpartition(":")[2]) for f in follows if f.startswith(answer_id)]
    assert first == 0 < rejoined


def test_a_new_tab_with_the_link_reads_the_whole_answer(page: Page, lab: LabServer) -> None:
    answer_id = send(page, PROMPT, "fetch")
    wait_for_text(page)
    link = page.url
    other = page.context.new_page()  # a tab of the same profile: its sessionStorage is empty
    other.set_default_timeout(WAIT_MS)
    other.goto(link)

    for tab in (page, other):
        wait_until_done(tab)
        assert answer_text(tab) == FULL
    assert [resumed_after(r) for r in stream_requests(lab, answer_id)] == [None, None]


def test_a_reload_after_the_end_shows_the_answer_whole_with_no_request(
    page: Page, lab: LabServer
) -> None:
    answer_id = send(page, PROMPT, "eventsource")
    wait_until_done(page)
    status = page.text_content("#status") or ""
    seen = len(lab.seen_requests())

    page.reload()
    assert answer_text(page) == FULL
    expect(page.locator("#status")).to_have_text(status)
    page.wait_for_timeout(300)  # time for a request, had the page made one
    assert not [r for r in lab.seen_requests()[seen:] if answer_id in r["url"]]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("ended", [False, True], ids=["running", "ended"])
def test_a_saved_id_past_the_end_reads_the_answer_again_from_the_start(
    page: Page, lab: LabServer, client: str, ended: bool
) -> None:
    # A tab whose saved text and id are ahead of the answer (the server answers 400 while
    # it runs, 204 once it has ended): the page reads it again and replaces the text.
    answer_id = send(page, PROMPT, client)
    wait_for_text(page)
    if ended:
        wait_until_done(page)
    saved = {"id": answer_id, "client": client, "text": "NOT THE ANSWER ", "lastEventId": "900"}
    # Saved as the reloaded page starts, before its script runs (this one saves as it goes).
    page.add_init_script(
        f"sessionStorage.setItem('sse-lab.answer', {json.dumps(json.dumps(saved))})"
    )
    page.reload()
    wait_until_done(page)

    assert answer_text(page) == FULL
    assert [resumed_after(r) for r in stream_requests(lab, answer_id)][1:] == ["900", None]


def test_an_unknown_answer_in_the_link_says_so_and_the_page_still_works(
    browser: Browser, lab: LabServer
) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{lab.url}/#token={lab.tokens['alice']}&answer=ans_no_such_answer")

    expect(page.locator("#status")).to_have_attribute("data-state", "error")
    expect(page.locator("#status")).to_contain_text("404: the link's answer is unknown")
    assert linked_answer(page) == ""  # forgotten: a reload does not ask again
    assert page.input_value("#token") == lab.tokens["alice"]
    send(page, PROMPT, "fetch")
    wait_until_done(page)
    assert answer_text(page) == FULL
    context.close()


def test_another_users_answer_in_the_link_is_unknown_too(
    page: Page, lab: LabServer, browser: Browser
) -> None:
    answer_id = send(page, PROMPT, "fetch")
    context = browser.new_context(locale="en-US")
    bobs = context.new_page()
    bobs.set_default_timeout(WAIT_MS)
    bobs.goto(f"{lab.url}/#token={lab.tokens['bob']}&answer={answer_id}")

    expect(bobs.locator("#status")).to_contain_text("404: the link's answer is unknown")
    assert answer_text(bobs) == ""
    context.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_stop_after_a_reload_stops_the_rejoined_answer(
    page: Page, lab: LabServer, client: str
) -> None:
    answer_id = send(page, PROMPT, client)
    wait_for_text(page)
    page.reload()
    expect(page.locator("#status")).to_have_attribute("data-state", "streaming")
    page.click("#stop")

    # A stopped answer's done has `"usage": null`: the finish reason alone.
    expect(page.locator("#status")).to_have_text("stopped · finish_reason: stopped")
    shown = answer_text(page)
    assert FULL.startswith(shown) and len(shown) < len(FULL)
    [stop] = [r for r in lab.seen_requests(f"/sse/{answer_id}") if r["method"] == "DELETE"]
    assert stop["headers"]["Authorization"] == "Bearer ***"


def token_counts(lab: LabServer, answer_id: str) -> str:
    """The usage the server's `done` event gives for the answer, as the page words it."""
    response = httpx.get(f"{lab.url}/sse/{answer_id}", headers=lab.auth_header(), timeout=10)
    *_, done = EventStreamParser().feed(response.content)
    usage = json.loads(done.data)["usage"]
    assert usage["completion_tokens"] == len(answer_tokens(PROMPT))
    return f"{usage['prompt_tokens']} + {usage['completion_tokens']} = {usage['total_tokens']}"


@pytest.mark.parametrize("client", CLIENTS)
def test_the_status_line_shows_the_tokens_the_answer_used(
    page: Page, lab: LabServer, client: str
) -> None:
    answer_id = send(page, PROMPT, client)
    wait_until_done(page)

    counts = token_counts(lab, answer_id)
    expect(page.locator("#status")).to_have_text(f"done · finish_reason: stop · {counts} tokens")


def test_the_token_counts_in_chinese(browser: Browser, lab: LabServer) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{lab.url}/#token={lab.tokens['alice']}")
    answer_id = send(page, PROMPT, "fetch")

    counts = token_counts(lab, answer_id)
    done = f"已完成 · finish_reason: stop · {counts} 个 token"
    expect(page.locator("#status")).to_have_text(done)
    context.close()


DONE_DATA = re.compile(rb'^data: \{"finish_reason".*$', re.MULTILINE)


def test_a_done_event_without_usage_shows_the_finish_reason_alone(page: Page) -> None:
    # A server from before the usage was counted sent `{"finish_reason": ...}` alone.
    def without_usage(route: Route) -> None:
        response = route.fetch()
        body = DONE_DATA.sub(b'data: {"finish_reason": "stop"}', response.body())
        route.fulfill(response=response, body=body)

    page.route(lambda url: "/sse/" in url, without_usage)
    send(page, PROMPT, "fetch")

    expect(page.locator("#status")).to_have_text("done · finish_reason: stop")
    assert answer_text(page) == FULL


def render(page: Page, text: str) -> Any:
    """`text` rendered by markdown.js into the page, as an outline: an element as
    `[tag, child, ...]` (a hidden Markdown mark as `["mark", text]`), a text as itself."""
    return page.evaluate(
        """async (text) => {
            const { renderMarkdown } = await import("/static/markdown.js");
            const box = document.createElement("div");
            box.id = "rendered";
            box.append(renderMarkdown(text));
            document.body.append(box);
            const outline = (node) => {
                if (node.nodeType === Node.TEXT_NODE) return node.data;
                if (node.className === "md-mark") return ["mark", node.textContent];
                return [node.tagName.toLowerCase(), ...[...node.childNodes].map(outline)];
            };
            box.normalize();
            return [...box.childNodes].map(outline);
        }""",
        text,
    )


def test_markdown_blocks_and_inline_forms(page: Page) -> None:
    text = "# Title\n\nSome **bold**, *it* and `code`.\nSame paragraph.\n\n- one\n- two\n"
    assert render(page, text) == [
        ["h3", ["mark", "# "], "Title"],
        "\n\n",
        [
            "p",
            "Some ",
            ["strong", ["mark", "**"], "bold", ["mark", "**"]],
            ", ",
            ["em", ["mark", "*"], "it", ["mark", "*"]],
            " and ",
            ["code", ["mark", "`"], "code", ["mark", "`"]],
            ".\nSame paragraph.",
        ],
        "\n\n",
        ["ul", ["li", ["mark", "- "], "one"], "\n", ["li", ["mark", "- "], "two"], "\n"],
    ]
    assert page.text_content("#rendered") == text  # the text is the source, to the character


def test_an_unclosed_fence_mid_stream_is_an_open_code_block(page: Page) -> None:
    text = "Run:\n\n```python\nprint('<b>hi</b>')\n"
    assert render(page, text) == [
        ["p", "Run:"],
        "\n\n",
        ["pre", ["code", ["mark", "```python\n"], "print('<b>hi</b>')\n"]],
    ]
    assert page.evaluate("() => document.querySelector('#rendered pre').dataset.open") == ""
    closed = render(page, text + "```\nAfter.")
    code = ["code", ["mark", "```python\n"], "print('<b>hi</b>')\n", ["mark", "```\n"]]
    assert closed[2:] == [["pre", code], ["p", "After."]]


def test_a_list_mid_stream(page: Page) -> None:
    assert render(page, "Steps:\n3. open\n4. re") == [
        ["p", "Steps:"],
        "\n",
        ["ol", ["li", ["mark", "3. "], "open"], "\n", ["li", ["mark", "4. "], "re"]],
    ]
    assert page.evaluate("() => document.querySelector('#rendered ol').start") == 3
    # A mark whose end has not come yet stays text until it comes.
    assert render(page, "- a **bo") == [["ul", ["li", ["mark", "- "], "a **bo"]]]


def test_links_only_to_http_and_without_the_pages_handle(page: Page) -> None:
    unsafe = " [bad](javascript:alert(1)) [data](data:text/html,x)"
    [paragraph] = render(page, "[spec](https://html.spec.whatwg.org/)" + unsafe)
    marks = [["mark", "["], "spec", ["mark", "](https://html.spec.whatwg.org/)"]]
    assert paragraph == ["p", ["a", *marks], unsafe]
    link = page.evaluate(
        "() => { const a = document.querySelector('#rendered a'); return [a.href, a.rel]; }"
    )
    assert link == ["https://html.spec.whatwg.org/", "noopener noreferrer"]


ALLOWED = {"P", "H3", "H4", "H5", "UL", "OL", "LI", "PRE", "CODE", "STRONG", "EM", "A", "SPAN"}


def test_html_in_an_answer_stays_text_and_never_runs(page: Page) -> None:
    text = (
        "<script>window.ran = 'script'</script>\n\n"
        "# <img src=x onerror=\"window.ran = 'img'\">\n\n"
        "- **<svg onload=\"window.ran = 'svg'\">**\n\n"
        "```\n<iframe srcdoc=\"<script>parent.ran = 'iframe'</script>\">\n```\n"
        "[x](https://example.com/\"onmouseover=\"window.ran='a')"
    )
    render(page, text)
    page.wait_for_timeout(200)  # time for an image's error, had one been made

    assert page.evaluate("() => window.ran") is None
    tags = page.evaluate(
        "() => [...document.querySelectorAll('#rendered *')].map((e) => e.tagName)"
    )
    assert set(tags) <= ALLOWED
    assert page.text_content("#rendered") == text


def test_no_script_of_the_page_writes_html() -> None:
    scripts = {path.name: path.read_text(encoding="utf-8") for path in STATIC_DIR.glob("*.js")}
    assert "markdown.js" in scripts
    for name, source in scripts.items():
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", source), (
            name
        )
