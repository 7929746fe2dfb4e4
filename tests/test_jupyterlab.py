"""The chat view seen streaming in a real JupyterLab, in a real Chromium.

nbval compares text; this test watches the widget itself: JupyterLab serves a copy of the
POST-then-SSE notebook, Chromium runs it up to the chat cell, and the answer must grow
inside the widget, several times, before the status says done.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "06-post-then-sse.ipynb"
ARTIFACTS = ROOT / "artifacts"  # git-ignored: screenshots for a person to look at
STARTUP_S = 90  # JupyterLab's first start builds its caches: bounded, but generous


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab on a free port serving a copy of the notebook; its URL with the token."""
    home = tmp_path_factory.mktemp("jupyterlab")
    shutil.copy(NOTEBOOK, home / NOTEBOOK.name)
    port, token = free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}"]
    command += ["--ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--notebook-dir={home}"]
    command += [f"--LabApp.workspaces_dir={home / '.workspaces'}", "--allow-root"]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / ".runtime")}
    server = subprocess.Popen(
        command, cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_S
        while not _answers(f"{url}/api/status?token={token}"):
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("JupyterLab did not start", pytrace=False)
            time.sleep(0.2)
        yield f"{url}/lab/tree/{NOTEBOOK.name}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def cells_up_to_the_chat_view() -> int:
    """How many cells, from the top, run the notebook as far as its first chat view."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code" and "ChatView(" in "".join(cell["source"]):
            return index + 1
    raise AssertionError(f"{NOTEBOOK.name} shows no ChatView")


def wait_for_the_kernel(page: Page) -> None:
    """Until the notebook's kernel is idle. On a first start JupyterLab may load its kernel
    list late and ask which kernel to use: take the one it proposes, the notebook's own."""
    idle = page.get_by_text(re.compile(r"\| Idle$"))
    choose = page.locator(".jp-Dialog").get_by_role("button", name="Select")
    deadline = time.monotonic() + STARTUP_S
    while not (idle.count() and idle.first.is_visible() and not choose.count()):
        if time.monotonic() > deadline:
            pytest.fail("the notebook's kernel did not start", pytrace=False)
        if choose.count():
            choose.first.click()
        time.sleep(0.2)


def test_the_chat_view_streams_inside_jupyterlab(browser: Browser, jupyterlab: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    try:
        page.goto(jupyterlab)
        wait_for_the_kernel(page)
        page.locator(".jp-Notebook .jp-Cell").first.click()
        for _ in range(cells_up_to_the_chat_view()):
            page.keyboard.press("Shift+Enter")

        answer = page.locator(".sse-lab-answer").last
        status = page.locator(".sse-lab-status").last
        answer.wait_for()
        seen: list[str] = []  # each distinct text the widget showed, in order
        deadline = time.monotonic() + 60
        while not (final := status.inner_text()).startswith("done"):
            if time.monotonic() > deadline:
                break
            text = answer.inner_text()
            if text and (not seen or text != seen[-1]):
                seen.append(text)
            time.sleep(0.05)
        whole = answer.inner_text()
    finally:
        ARTIFACTS.mkdir(exist_ok=True)  # a picture of how it ended, passed or failed
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-chat-view.png"))
        page.close()

    assert final.startswith("done"), f"the chat view ended as {final!r}"
    # The last poll before `done` may already have seen the whole text: that is no step.
    partial = [text for text in seen if text != whole]
    assert len(partial) >= 3, f"the answer should grow in steps, saw {len(partial)} partial states"
    assert all(later.startswith(earlier) for earlier, later in pairwise([*partial, whole]))
    assert len(whole) > len(partial[-1])
