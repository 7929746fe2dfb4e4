"""The chat page reached through a real JupyterHub, as at a workshop that runs one.

The hub (PyPI's jupyterhub, npm's configurable-http-proxy from tests/hub/, a password-only
DummyAuthenticator, SimpleLocalProcessSpawner) runs this venv's `jupyterhub-singleuser` with
jupyter-server-proxy. A learner logs in with Chromium; then, as notebook 00's start cell
does, Python run by a kernel of the learner's single-user server starts a lab server and
prints its `browser_url`: the kernel is started and fed through Jupyter's REST and websocket
API, so the lab server sees the environment the spawner gave (JUPYTERHUB_SERVICE_PREFIX).
Chromium opens the printed link, through the hub's public URL, and the answer streams.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websocket
from playwright.sync_api import Browser, Page, expect
from test_browser import send
from test_jupyter_proxy import PROMPT, arrivals, assert_streamed, watch_arrivals

from conftest import wait_until_ready
from sse_lab.services.process import ServiceProcess, free_port, start_process

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
PROXY = ROOT / "tests" / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
BIN = Path(sys.executable).parent
STARTUP_S = 60
WAIT_MS = 30_000
USER = "alice"

# Run in the learner's kernel, as notebook 00's start cell: start a lab server, print its link.
START_CELL = """
from sse_lab import start_server
lab = start_server(token_delay=0.02)
print(f"{lab.browser_url}#token={lab.tokens['alice']}")
"""


@dataclass
class Hub:
    """A running JupyterHub: its public URL, the learner's password, an API token that may
    use the learner's server, and the hub's process."""

    url: str
    password: str
    api_token: str
    service: ServiceProcess

    def user_api(self, path: str) -> str:
        return f"{self.url}/user/{USER}/api/{path}"


def hub_config(workdir: Path, public_port: int, password: str, api_token: str) -> str:
    """jupyterhub_config.py: every port on 127.0.0.1, state and homes in `workdir`."""
    singleuser = [str(BIN / "jupyterhub-singleuser"), "--allow-root"]
    return f"""
c.JupyterHub.bind_url = "http://127.0.0.1:{public_port}"
c.JupyterHub.public_url = "http://127.0.0.1:{public_port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.command = [{str(PROXY)!r}]
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = {{{USER!r}}}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(workdir / "home-{username}")!r}
c.Spawner.ip = "127.0.0.1"
c.Spawner.cmd = {singleuser!r}
c.Spawner.default_url = "/api/status"
c.Spawner.environment = {{"PYTHONPATH": {str(ROOT)!r}}}
c.Spawner.start_timeout = {STARTUP_S}
c.JupyterHub.services = [{{"name": "lab-test", "api_token": {api_token!r}}}]
c.JupyterHub.load_roles = [
    {{"name": "lab-test", "scopes": ["access:servers!user={USER}"], "services": ["lab-test"]}},
]
"""


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    """A JupyterHub on free ports of 127.0.0.1 in a temporary directory, stopped by its pid
    (it stops its proxy and the learner's server as it goes)."""
    if not PROXY.exists():
        reason = f"no configurable-http-proxy at {PROXY} (`make hub-proxy`: npm ci in tests/hub)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the JupyterHub test", pytrace=False)
        pytest.skip(f"JUPYTERHUB TEST SKIPPED: {reason}")
    password, api_token = secrets.token_hex(8), secrets.token_hex(16)

    def argv(workdir: Path, port: int) -> list[str]:
        config = workdir / "jupyterhub_config.py"
        config.write_text(hub_config(workdir, port, password, api_token))
        return [str(BIN / "jupyterhub"), "-f", str(config)]

    env = {"PATH": f"{BIN}:{os.environ['PATH']}"}  # where the hub finds its singleuser server
    with start_process("jupyterhub", argv, timeout=STARTUP_S, env=env) as service:
        url = f"http://127.0.0.1:{service.port}"
        wait_until_ready(f"{url}/hub/api", service, "JupyterHub", STARTUP_S)
        yield Hub(url, password, api_token, service)


@pytest.fixture(scope="module")
def learner(browser: Browser, hub: Hub) -> Iterator[Page]:
    """Chromium, logged in to the hub as the learner, whose server has been spawned."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", USER)
    page.fill("#password_input", hub.password)
    page.click("#login_submit")
    page.wait_for_url(f"{hub.url}/user/{USER}/api/status*")  # spawned, and logged in to it
    yield page
    context.close()


@pytest.fixture(scope="module")
def printed_link(hub: Hub, learner: Page) -> Iterator[str]:
    """The link START_CELL printed in a kernel of the learner's server; the kernel, and with
    it the lab server, is shut down at the end."""
    headers = {"Authorization": f"token {hub.api_token}"}
    kernel = httpx.post(hub.user_api("kernels"), headers=headers, json={}, timeout=30)
    kernel.raise_for_status()
    kernel_id = kernel.json()["id"]
    try:
        channels = hub.user_api(f"kernels/{kernel_id}/channels").replace("http://", "ws://", 1)
        socket = websocket.create_connection(channels, header=headers, timeout=30)
        try:
            yield execute(socket, START_CELL).strip()
        finally:
            socket.close()
    finally:
        httpx.delete(hub.user_api(f"kernels/{kernel_id}"), headers=headers, timeout=30)


def execute(socket: websocket.WebSocket, code: str) -> str:
    """Send one execute_request on a kernel's channels; its stdout, once the kernel is idle."""
    msg_id = uuid.uuid4().hex
    socket.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": USER,
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "content": {"code": code, "silent": False, "allow_stdin": False},
            }
        )
    )
    stdout = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        message = json.loads(socket.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream" and content["name"] == "stdout":
            stdout += content["text"]
        elif kind == "error":
            raise AssertionError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return stdout
    raise AssertionError(f"the kernel did not finish in 60 s; printed {stdout!r}")


@pytest.mark.parametrize("client", ["eventsource", "fetch"])
def test_a_learner_on_a_hub_opens_the_printed_link_and_the_answer_streams(
    learner: Page, hub: Hub, printed_link: str, client: str
) -> None:
    # The hub's public URL and the learner's prefix, not 127.0.0.1:PORT (the kernel's machine).
    assert printed_link.startswith(f"{hub.url}/user/{USER}/proxy/")

    learner.goto(printed_link)
    expect(learner.locator("#token")).not_to_have_value("")  # chat.js ran, and read the token
    watch_arrivals(learner)
    send(learner, PROMPT, client)

    expect(learner.locator("#status")).to_have_attribute("data-state", "done")
    assert_streamed(arrivals(learner))
    expect(learner.locator("#seen-request")).to_contain_text("GET /sse/")
