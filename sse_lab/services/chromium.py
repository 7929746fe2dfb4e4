"""A real headless Chromium, driven from Python with Playwright, to watch what browsers do
with event streams (for instance: at most six connections per origin over HTTP/1.1).

The browser is the system's Chromium (Debian's `chromium` package, or another one on PATH),
else the one Playwright downloaded, if it did. Everything here is async: a notebook's kernel
already runs an event loop, on which Playwright's sync API refuses to run.
"""

from __future__ import annotations

import importlib.util
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "Chromium",
    "StreamTiming",
    "browser_missing",
    "find_chromium",
    "launch_chromium",
    "open_event_sources",
]

CHROMIUM = Path("/usr/bin/chromium")
# Other names a Chromium goes by on PATH (Ubuntu's older package, Google's build).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# A closed network: without these, Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def find_chromium() -> Path | None:
    """The Chromium to drive: Debian's at /usr/bin/chromium, else the first of CHROMIUM_NAMES
    on PATH, else the one `playwright install chromium` downloaded; None if there is none."""
    if CHROMIUM.exists():
        return CHROMIUM
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return Path(found)
    if importlib.util.find_spec("playwright") is None:
        return None
    downloaded = _playwright_chromium()
    return downloaded if downloaded.exists() else None


def _playwright_chromium() -> Path:
    """Where Playwright keeps (or would keep) its own Chromium. Asked in a thread of its own:
    Playwright's sync API refuses to run on a thread with an event loop, as a kernel's is."""
    from playwright.sync_api import sync_playwright

    def ask() -> str:
        with sync_playwright() as playwright:
            return playwright.chromium.executable_path

    with ThreadPoolExecutor(max_workers=1) as pool:
        return Path(pool.submit(ask).result(timeout=60))


def browser_missing() -> str | None:
    """None if Playwright and a Chromium are both installed, else one line saying what to run."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed: `.venv/bin/pip install playwright` (or `make lab`)"
    if find_chromium() is None:
        fix = (
            "sudo apt-get install chromium"
            if shutil.which("apt-get")
            else ".venv/bin/python -m playwright install chromium"
        )
        return f"no Chromium at {CHROMIUM}, on PATH or from Playwright: `{fix}`"
    return None


@dataclass
class Chromium:
    """A running headless Chromium; `close()` (or leaving `async with`) ends it."""

    browser: Browser
    _playwright: Playwright

    @property
    def version(self) -> str:
        """Chromium's version, e.g. "131.0.6778.85"."""
        return self.browser.version

    async def close(self) -> None:
        """Close the browser and Playwright's driver process; safe to call twice."""
        if self.browser.is_connected():
            await self.browser.close()
            await self._playwright.stop()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def launch_chromium(*, ignore_certificate_errors: bool = False) -> Chromium:
    """Start the Chromium `find_chromium` finds, headless. `ignore_certificate_errors` lets it
    talk to a server with a self-signed certificate (as `start_nginx(http2=True)` makes)."""
    if problem := browser_missing():
        raise RuntimeError(problem)
    executable = find_chromium()
    from playwright.async_api import async_playwright

    args = [*CHROMIUM_ARGS]
    if ignore_certificate_errors:
        args.append("--ignore-certificate-errors")
    playwright = await async_playwright().start()
    try:
        browser = await playwright.chromium.launch(executable_path=str(executable), args=args)
    except BaseException:
        await playwright.stop()
        raise
    return Chromium(browser, playwright)


@dataclass(frozen=True, slots=True)
class StreamTiming:
    """One EventSource in the page: seconds from its creation to its first event and to its
    `done` (None if that never came), and the protocol its connection spoke."""

    url: str
    first_event: float | None
    closed: float | None
    protocol: str  # "http/1.1", "h2", or "" when the browser did not say


# Opens every EventSource at the same moment; each closes itself at its `done` event.
_OPEN_ALL = """async ([urls, waitMs]) => {
    const start = performance.now();
    const seconds = () => (performance.now() - start) / 1000;
    const timings = urls.map((url) => ({ url, first_event: null, closed: null }));
    await new Promise((resolve) => {
        let open = urls.length;
        const sources = urls.map((url, i) => {
            const source = new EventSource(url);
            source.onmessage = () => { timings[i].first_event ??= seconds(); };
            source.addEventListener("done", () => {
                timings[i].closed = seconds();
                source.close();
                if (--open === 0) resolve();
            });
            return source;
        });
        setTimeout(() => { sources.forEach((s) => s.close()); resolve(); }, waitMs);
    });
    await new Promise((resolve) => setTimeout(resolve, 250));  // the last timing entries
    const protocols = new Map(performance.getEntriesByType("resource")
        .map((entry) => [entry.name, entry.nextHopProtocol]));
    const protocol = (url) => protocols.get(new URL(url, location).href) ?? "";
    return timings.map((t) => ({ ...t, protocol: protocol(t.url) }));
}"""


async def open_event_sources(
    chromium: Chromium, origin: str, stream_paths: list[str], *, timeout: float = 30.0
) -> list[StreamTiming]:
    """Open a page at `origin`, create one `EventSource` per path there, all at once, and
    return when each got its first event and its `done` (each closes itself at `done`).
    Streams still open after `timeout` seconds are closed and keep `closed=None`."""
    context = await chromium.browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(origin + "/")
        found: list[dict[str, Any]] = await page.evaluate(
            _OPEN_ALL, [stream_paths, round(timeout * 1000)]
        )
    finally:
        await context.close()
    return [StreamTiming(**timing) for timing in found]
