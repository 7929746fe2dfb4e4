"""Eight tabs of the chat page asking at once over plain HTTP/1.1, in a real Chromium.

Each `fetch` stream holds one of the six connections a browser opens to an origin, so the
seventh and eighth tabs wait; in "one connection for all tabs" the tabs share one stream
(static/tabs.js, `GET /answers/events`) and all eight answers grow at once. When the tab
that holds it closes, another takes over and every answer still ends whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from sse_lab.lab.launch import LabServer, start_server
from sse_lab.model import answer_tokens

pytestmark = pytest.mark.browser

# Eight questions with eight different answers of 92 to 103 tokens.
PROMPTS = [
    "What is Server-Sent Events?",
    "What does the event stream format look like?",
    "How does reconnection with Last-Event-ID work?",
    "Why not put the prompt in the query string?",
    "What does a polyfill add?",
    "How do WebSockets compare?",
    "What changes with HTTP/2?",
    "How do proxies buffer streams?",
]
TOKEN_DELAY = 0.04  # about 4 s an answer: the tabs all ask long before the first one ends
WAIT_S = 30  # the longest the answers of all tabs may take


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A lab server on plain HTTP/1.1 at a pace one can watch."""
    db = tmp_path_factory.mktemp("tabs") / "lab.db"
    with start_server(token_delay=TOKEN_DELAY, db_path=str(db)) as server:
        yield server


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """One browser profile: its tabs share the six connections, the channel and the lock."""
    context = browser.new_context(locale="en-US")
    yield context
    context.close()


def open_tabs(context: BrowserContext, lab: LabServer, count: int, client: str) -> list[Page]:
    """`count` tabs of the chat page, each with its own question typed in, `client` chosen."""
    tabs = []
    for prompt in PROMPTS[:count]:
        page = context.new_page()
        page.goto(f"{lab.url}/#token={lab.tokens['alice']}")
        page.check(f"#mode-{client}")
        page.fill("#prompt", prompt)
        tabs.append(page)
    return tabs


@dataclass
class Watch:
    """What the tabs showed, sampled round after round: each tab's state and answer text, and
    how many event streams the server had open."""

    tabs: list[Page]
    started: float = field(default_factory=time.monotonic)
    rounds: list[list[tuple[str, str]]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # seconds from the start, per round
    open_streams: list[int] = field(default_factory=list)

    def until(self, lab: LabServer, done: Callable[[list[tuple[str, str]]], bool]) -> float:
        """Sample until `done(round)`; the seconds it took from the start."""
        while time.monotonic() < self.started + WAIT_S:
            self.rounds.append([shown(tab) for tab in self.tabs])
            self.times.append(time.monotonic() - self.started)
            self.open_streams.append(lab.open_streams())
            if done(self.rounds[-1]):
                return self.times[-1]
            time.sleep(0.05)
        raise AssertionError(f"the tabs did not get there within {WAIT_S} s: {self.rounds[-1:]}")

    def until_all_end(self, lab: LabServer) -> float:
        return self.until(lab, lambda row: not any(busy(state) for state, _ in row))

    def without(self, gone: Page) -> Watch:
        """The watch of the other tabs, with what they showed so far."""
        keep = [n for n, tab in enumerate(self.tabs) if tab is not gone]
        watch = Watch([self.tabs[n] for n in keep], self.started)
        watch.rounds = [[row[n] for n in keep] for row in self.rounds]
        return watch

    def texts(self, tab: int) -> list[str]:
        return [row[tab][1] for row in self.rounds]

    def first_text(self, tab: int) -> int:
        """The round in which the tab first showed some of its answer."""
        return next(n for n, row in enumerate(self.rounds) if row[tab][1])

    def first_end(self) -> int:
        """The round in which a tab first showed its answer done."""
        return next(n for n, row in enumerate(self.rounds) if any(s == "done" for s, _ in row))


def shown(tab: Page) -> tuple[str, str]:
    state, text = tab.evaluate(
        "() => [document.getElementById('status').dataset.state,"
        " document.getElementById('answer').textContent]"
    )
    return state, text


def busy(state: str) -> bool:
    return state in ("connecting", "streaming")


def send_all(tabs: list[Page]) -> Watch:
    """Press Send in every tab, one right after the other (a script's click: Playwright's own
    waits for a tab in the background to paint, up to a second a tab)."""
    watch = Watch(tabs)
    for tab in tabs:
        tab.evaluate("() => document.getElementById('send').click()")
    return watch


def assert_whole_answers(watch: Watch, prompts: list[str]) -> None:
    """Each tab ended done with its own answer exactly, only ever growing on the way."""
    for tab, prompt in enumerate(prompts):
        assert watch.rounds[-1][tab] == ("done", "".join(answer_tokens(prompt))), prompt
        texts = watch.texts(tab)
        assert all(later.startswith(earlier) for earlier, later in pairwise(texts)), prompt


def stream_follows(lab: LabServer) -> list[dict[str, int]]:
    """The cursors of each `/answers/events` request the server saw, oldest first."""
    requests = lab.seen_requests("/answers/events")
    follows = [parse_qs(urlsplit(r["url"]).query)["follow"] for r in requests]
    return [{v.rpartition(":")[0]: int(v.rpartition(":")[2]) for v in f} for f in follows]


def answer_ids(tabs: list[Page]) -> set[str]:
    return {tab.get_attribute("#answer", "data-answer-id") or "" for tab in tabs}


def test_eight_tabs_sharing_one_connection_all_stream_at_once(
    context: BrowserContext, lab: LabServer
) -> None:
    tabs = open_tabs(context, lab, 8, "tabs")
    watch = send_all(tabs)
    seconds = watch.until_all_end(lab)

    assert_whole_answers(watch, PROMPTS)
    growing = [n for n in range(watch.first_end()) if all(text for _, text in watch.rounds[n])]
    assert growing  # every tab showed part of its answer before any had finished
    assert watch.open_streams[growing[-1]] == 1  # and the server had one stream open
    # It followed all eight: each ask reopened it, with one answer more.
    opened = [set(follows) for follows in stream_follows(lab)]
    assert answer_ids(tabs) in opened
    assert lab.seen_requests("/sse/") == []
    expect(tabs[-1].locator("#seen-request")).to_contain_text("GET /answers/events?follow=")
    last = max(watch.times[watch.first_text(tab)] for tab in range(8))
    print(
        f"\neight answers, one connection for all tabs: all done after {seconds:.1f} s, every"
        f" tab showed its first words within {last:.1f} s ({len(opened)} GET /answers/events)"
    )


def test_eight_tabs_streaming_with_fetch_the_seventh_and_eighth_wait(
    context: BrowserContext, lab: LabServer
) -> None:
    tabs = open_tabs(context, lab, 8, "fetch")
    watch = send_all(tabs)
    seconds = watch.until_all_end(lab)

    assert_whole_answers(watch, PROMPTS)
    # Just before the first answer ended, six tabs streamed and two had nothing yet.
    before_end = watch.rounds[watch.first_end() - 1]
    assert sorted(bool(text) for _, text in before_end) == [False] * 2 + [True] * 6
    waited = sorted(watch.times[watch.first_text(tab)] for tab in range(8))[6:]
    print(
        f"\neight answers, a fetch stream per tab: all done after {seconds:.1f} s; the"
        f" seventh and eighth showed their first words after {waited[0]:.1f} and"
        f" {waited[1]:.1f} s, once a stream had ended"
    )


def test_closing_the_leader_tab_hands_the_stream_to_another_and_every_answer_ends_whole(
    context: BrowserContext, lab: LabServer
) -> None:
    tabs = open_tabs(context, lab, 4, "tabs")
    watch = send_all(tabs)
    watch.until(lab, lambda row: all(text for _, text in row))
    [leader] = [tab for tab in tabs if tab.is_visible("#tabs-leader")]
    asked = len(stream_follows(lab))

    leader.close()  # mid-answer: its lock, and its connection, go with it
    rest = watch.without(leader)
    rest.until_all_end(lab)

    assert_whole_answers(rest, [PROMPTS[tabs.index(tab)] for tab in rest.tabs])
    assert [tab.is_visible("#tabs-leader") for tab in rest.tabs].count(True) == 1
    reopened = stream_follows(lab)[asked:]
    assert set(reopened[-1]) == answer_ids(rest.tabs)
    assert 0 not in reopened[-1].values()  # each answer resumed from where its tab was
