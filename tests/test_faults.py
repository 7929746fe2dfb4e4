"""Faults a client (or another process) can cause, over real sockets.

Each gets a clear JSON 4xx (or the documented status), nothing of the request is echoed
or logged in clear, no traceback reaches the log, and the server goes on serving.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from yarl import URL

from conftest import read_events, until
from sse_lab.burst_log import BurstLog
from sse_lab.lab.launch import LabServer, start_server

SECRET = "tokSECRET1234567890"  # rides in requests that must not reach a log or a response


async def exchange(lab: LabServer, data: bytes, seconds: float = 10) -> bytes:
    """Send raw bytes on a new connection; all the server sends back until it closes."""
    host, port = lab.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    received = b""
    try:
        writer.write(data)
        async with asyncio.timeout(seconds):
            await writer.drain()
            while chunk := await reader.read(65536):
                received += chunk
    except ConnectionResetError:
        pass  # the server answered and closed before it read all we sent
    finally:
        writer.close()
    return received


def parsed(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of the first response in `raw`."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    length = int(headers.get("content-length", len(rest)))
    return int(status_line.split()[1]), headers, rest[:length]


def json_error(raw: bytes, status: int) -> str:
    """The `error` sentence of a JSON error response with that status."""
    got, headers, body = parsed(raw)
    assert got == status, raw[:300]
    assert headers["content-type"].startswith("application/json")
    message: str = json.loads(body)["error"]
    return message


async def still_serving(lab: LabServer, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{lab.url}/v1/models") as response:
        assert response.status == 200


def assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """No traceback, no secret: what a log may show of a client's mistake."""
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]
    assert SECRET not in caplog.text


async def new_answer(lab: LabServer, http: aiohttp.ClientSession, prompt: str = "hi") -> str:
    async with http.post(
        f"{lab.url}/new", json={"prompt": prompt}, headers=lab.auth_header()
    ) as response:
        assert response.status == 201
        return str((await response.json())["id"])


# --- requests aiohttp's own parser refuses -------------------------------------------

Q = f"?token={SECRET}".encode()
UNPARSABLE = {
    "bad chunk size": b"POST /new" + Q + b" HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "Content-Length and Transfer-Encoding": b"POST /new" + Q + b" HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "a 2 MB request line": b"GET /ask" + Q + b"&prompt=" + b"x" * (2 << 20) + b" HTTP/1.1\r\n\r\n",
    "a 100 kB header": b"GET /sse" + Q + b" HTTP/1.1\r\nX-Big: " + b"y" * 100_000 + b"\r\n\r\n",
    "300 headers": b"GET /sse"
    + Q
    + b" HTTP/1.1\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(300))
    + b"\r\n",
    "NUL in a header": b"GET /sse" + Q + b" HTTP/1.1\r\nX-A: a\x00b\r\n\r\n",
    "a control byte in a header": b"GET /sse" + Q + b" HTTP/1.1\r\nX-A: a\x01b\r\n\r\n",
    "HTTP/9.9": b"GET /sse" + Q + b" HTTP/9.9\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", UNPARSABLE.values(), ids=UNPARSABLE.keys())
async def test_a_request_aiohttp_cannot_parse_gets_a_json_400_that_quotes_nothing(
    lab, http, caplog, request_bytes: bytes
) -> None:
    caplog.set_level(logging.INFO)
    raw = await exchange(lab, request_bytes)
    if raw or b"2 MB" not in request_bytes:  # a 2 MB line may be cut off by a reset
        assert json_error(raw, 400).startswith("malformed request: ")
        assert SECRET.encode() not in raw
    await still_serving(lab, http)
    assert_quiet(caplog)
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refusals) == 1, caplog.text


async def test_a_burst_of_malformed_requests_is_logged_once(lab, http, caplog) -> None:
    caplog.set_level(logging.INFO, logger="sse_lab.server")
    for _ in range(50):
        json_error(await exchange(lab, UNPARSABLE["HTTP/9.9"]), 400)
    await still_serving(lab, http)
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refusals) == 1  # the other 49 are counted, for a line ten seconds on


# --- bad input the routes see -------------------------------------------------------

JSON = "application/json"
BODIES = {
    "not UTF-8": (b'{"prompt": "caf\xe9"}', JSON, 400),
    "UTF-16 with a BOM": ('{"prompt": "hi"}'.encode("utf-16"), JSON, 400),
    "an unknown charset": (b'{"prompt": "hi"}', f"{JSON}; charset=nope", 415),
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, JSON, 400),
    "a lone surrogate": (b'{"prompt": "\\ud800"}', JSON, 400),
    "an int of 5,000 digits": (b'{"prompt": "hi", "n": ' + b"9" * 5000 + b"}", JSON, 400),
}


@pytest.mark.parametrize(("body", "content_type", "status"), BODIES.values(), ids=BODIES.keys())
async def test_a_body_that_is_no_usable_json_is_a_4xx_on_new_and_v1(
    lab, http, caplog, body: bytes, content_type: str, status: int
) -> None:
    headers = {"Content-Type": content_type, **lab.auth_header()}
    async with http.post(f"{lab.url}/new", data=body, headers=headers) as response:
        assert response.status == status
        assert (await response.json())["error"]
    # The same shapes as a chat request, streamed: refused before any 200 begins.
    chat = body.replace(b'{"prompt": ', b'{"model": "sse-lab-tiny", "stream": true, "messages": [')
    chat = chat.replace(b"}", b"]}") if chat.startswith(b'{"model"') else chat
    async with http.post(f"{lab.url}/v1/chat/completions", data=chat, headers=headers) as r:
        assert r.status == status
        assert (await r.json())["error"]["type"] == "invalid_request_error"
    await still_serving(lab, http)
    assert_quiet(caplog)


async def test_a_lone_surrogate_in_a_chat_message_is_a_400_not_a_cut_stream(lab, http) -> None:
    body = b'{"model": "sse-lab-tiny", "stream": true, "messages": '
    body += b'[{"role": "user", "content": "hi \\udc00"}]}'
    headers = {"Content-Type": JSON}
    async with http.post(f"{lab.url}/v1/chat/completions", data=body, headers=headers) as r:
        assert r.status == 400
        assert "surrogate" in (await r.json())["error"]["message"]


async def test_an_authorization_header_that_is_not_utf8_is_a_401(lab, http, caplog) -> None:
    raw = await exchange(
        lab,
        b"POST /new HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    assert "token" in json_error(raw, 401)
    await still_serving(lab, http)
    assert_quiet(caplog)


HUGE = [str(2**63), "9" * 4300, "1" * 5000]


@pytest.mark.parametrize("last_event_id", HUGE)
async def test_a_huge_last_event_id_is_a_400(lab, http, caplog, last_event_id: str) -> None:
    answer_id = await new_answer(lab, http)
    for path, headers in [(f"/sse/{answer_id}", lab.auth_header()), ("/sse", {})]:
        headers = {**headers, "Last-Event-ID": last_event_id}
        async with http.get(lab.url + path, headers=headers) as response:
            assert response.status == 400
            message = (await response.json())["error"]
            assert message.startswith("Last-Event-ID must be a whole number")
            assert last_event_id not in message  # not echoed
    assert_quiet(caplog)


@pytest.mark.parametrize("name", ["count", "interval_ms", "drop_after"])
async def test_a_demo_parameter_of_5000_digits_is_a_400(lab, http, caplog, name: str) -> None:
    async with http.get(f"{lab.url}/sse", params={name: "7" * 5000}) as response:
        assert response.status == 400
        assert (await response.json())["error"].startswith(f"{name} must be a whole number")
    assert_quiet(caplog)


async def test_every_json_error_tells_browsers_not_to_sniff_it(lab, http) -> None:
    html = "<script>alert(1)</script>"
    errors: list[tuple[str, str, dict[str, Any]]] = [  # a handler's, the middleware's...
        ("GET", f"/sse/{html}", {"headers": lab.auth_header()}),
        ("GET", "/sse", {"params": {"count": html}}),
        ("PUT", "/new", {}),
        ("POST", "/v1/chat/completions", {"json": {"model": html, "messages": []}}),  # the API's
    ]
    for method, path, options in errors:
        async with http.request(method, lab.url + path, **options) as response:
            assert response.status >= 400 and response.content_type == "application/json"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    raw = await exchange(lab, b"GET /sse HTTP/9.9\r\nHost: x\r\n\r\n")  # and the parser's
    assert parsed(raw)[1]["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/static/nope.js", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/.x"]
)
async def test_static_errors_are_json_like_every_other(lab, path: str) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert json_error(await exchange(lab, request.encode()), 404)


async def test_a_static_file_honours_range_and_a_range_past_its_end_gets_416(lab, http) -> None:
    async with http.get(f"{lab.url}/static/chat.js") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
        whole = await r.read()
    async with http.get(f"{lab.url}/static/chat.js", headers={"Range": "bytes=10-19"}) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes 10-19/{len(whole)}"
        assert await r.read() == whole[10:20]
    async with http.get(f"{lab.url}/static/chat.js", headers={"Range": "bytes=999999-"}) as r:
        assert r.status == 416
        assert r.headers["Content-Range"] == f"bytes */{len(whole)}"


async def test_ws_refuses_bad_messages_and_keeps_the_socket_open(lab, http, caplog) -> None:
    answer_id = await new_answer(lab, http)
    bad = [
        '{"type": "ask", "prompt": "\\ud800"}',
        '{"type": "follow", "id": "\\udfff"}',
        json.dumps({"type": "follow", "id": answer_id, "after": 10**100}),
        "[" * 100_000,
        json.dumps({"type": "x" * 100_000}),
    ]
    async with http.ws_connect(f"{lab.url}/ws", headers=lab.auth_header()) as ws:
        for text in bad:
            await ws.send_str(text)
            refusal = await ws.receive_json(timeout=10)
            assert refusal["type"] == "error" and "id" not in refusal
            assert len(refusal["message"]) < 1000  # the message is not echoed whole
        await ws.send_json({"type": "follow", "id": answer_id})
        messages = [await ws.receive_json(timeout=10)]
        while messages[-1]["type"] not in ("done", "error"):
            messages.append(await ws.receive_json(timeout=10))
    assert messages[-1]["type"] == "done"
    assert_quiet(caplog)


# --- HEAD on a stream route ---------------------------------------------------------


async def test_head_on_a_stream_route_sends_headers_only_and_starts_nothing(lab, http) -> None:
    answer_id = await new_answer(lab, http)
    await read_sse(lab, http, answer_id)
    token = lab.tokens["alice"]
    asked = len(lab.seen_requests("/v1/chat"))  # each answer is one call to the model
    for path in ["/sse?count=3&interval_ms=0", f"/sse/{answer_id}?token={token}", "/ask?prompt=hi"]:
        # The next request on the same connection must still be read as a request.
        raw = await exchange(
            lab,
            f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n"
            "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
        )
        head, _, rest = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"text/event-stream" in head
        status, _, body = parsed(rest)
        assert status == 200
        assert json.loads(body)["object"] == "list"
    await asyncio.sleep(0.5)  # time enough for an answer started by mistake to call its model
    assert len(lab.seen_requests("/v1/chat")) == asked


# --- tokens and other users' requests -----------------------------------------------


async def test_a_token_is_masked_however_its_name_is_spelt(lab, http, caplog) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    answer_id = await new_answer(lab, http)
    token = lab.tokens["alice"]
    spelt = URL(f"{lab.url}/sse/{answer_id}?%74oken={token}", encoded=True)  # sent as it is
    async with http.get(spelt) as response:
        assert response.status == 200  # the server reads it as `token`...
        assert (await read_events(response))[-1].event == "done"
    async with http.get(f"{lab.url}/sse/{answer_id}", headers={"Authorization": token}) as r:
        assert r.status == 401  # no scheme: not accepted, and not shown either
    assert await until(lambda: "%74oken=***" in caplog.text)  # ...so it is masked as one
    seen = lab.seen_requests(f"/sse/{answer_id}")
    assert [r["url"] for r in seen][-2:] == [f"/sse/{answer_id}?%74oken=***", f"/sse/{answer_id}"]
    assert seen[-1]["headers"]["Authorization"] == "***"
    assert token not in caplog.text and token not in json.dumps(seen)


CREDENTIALS = {  # what a browser or a client may send along, each alone enough to log in
    "Cookie": "username-127-0-0-1-8899=COOKIEVALUE; _xsrf=XSRFVALUE",
    "Proxy-Authorization": "Basic PROXYVALUE",
    "X-Api-Key": "APIKEYVALUE",
    "Api-Key": "APIKEY2VALUE",
    "X-XSRFToken": "XSRFTOKENVALUE",
    "X-Session-Secret": "SESSIONVALUE",
}


async def test_cookies_and_credential_headers_are_masked_where_requests_are_shown(
    lab, http
) -> None:
    answer_id = await new_answer(lab, http)
    headers = {**CREDENTIALS, **lab.auth_header()}
    async with http.get(f"{lab.url}/sse/{answer_id}", headers=headers) as response:
        assert response.status == 200
        await read_events(response)
    async with http.get(f"{lab.url}/debug/requests", headers=lab.auth_header()) as response:
        shown_on_the_page = await response.json()
    [seen] = [r for r in lab.seen_requests(f"/sse/{answer_id}") if r["method"] == "GET"]
    assert seen["headers"]["Cookie"] == "username-127-0-0-1-8899=***; _xsrf=***"
    assert seen["headers"]["Proxy-Authorization"] == "Basic ***"
    assert seen["headers"]["X-Api-Key"] == "***"
    for where in (json.dumps(shown_on_the_page), json.dumps(lab.seen_requests())):
        assert "VALUE" not in where and lab.tokens["alice"] not in where


async def test_a_huge_url_is_logged_cut_short(lab, http, caplog) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    async with http.get(f"{lab.url}/ask", params={"prompt": "x" * 500_000}) as response:
        assert response.status == 414
    assert await until(lambda: '" 414 ' in caplog.text)
    [line] = [r.getMessage() for r in caplog.records if '" 414 ' in r.getMessage()]
    assert len(line) < 3000 and "characters)" in line
    assert len(lab.seen_requests("/ask")[-1]["url"]) < 3000


async def test_a_client_that_leaves_mid_stream_is_in_the_access_log(lab, http, caplog) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    async with http.get(f"{lab.url}/sse?count=100&interval_ms=50") as response:
        await response.content.readline()
    assert await until(lambda: '"GET /sse?count=100&interval_ms=50" 499' in caplog.text)


async def test_debug_requests_shows_each_user_their_own_requests_only(lab, http) -> None:
    alice_answer = await new_answer(lab, http)
    async with http.post(
        f"{lab.url}/new", json={"prompt": "bob's secret"}, headers=lab.auth_header("bob")
    ) as response:
        bob_answer = (await response.json())["id"]
    async with http.get(f"{lab.url}/ask", params={"prompt": "anonymous question"}) as response:
        await response.read()

    async with http.get(f"{lab.url}/debug/requests") as response:
        assert response.status == 401
    async with http.get(f"{lab.url}/debug/requests", headers=lab.auth_header()) as response:
        seen = json.dumps(await response.json())
    async with http.get(
        f"{lab.url}/debug/requests", params={"path": "/new"}, headers=lab.auth_header("bob")
    ) as response:
        bobs = await response.json()
    assert "POST" in seen and bob_answer not in seen and "anonymous" not in seen
    assert [r["user"] for r in bobs] == ["bob"]
    assert alice_answer not in json.dumps(bobs)


async def test_a_stream_read_with_a_stream_token_is_its_users_in_debug_requests(lab, http) -> None:
    async with http.post(
        f"{lab.url}/new", json={"prompt": "hi"}, headers=lab.auth_header()
    ) as response:
        eventsource_url = (await response.json())["eventsource_url"]
    async with http.get(lab.url + eventsource_url) as response:
        assert (await read_events(response))[-1].event == "done"
    path = eventsource_url.partition("?")[0]
    async with http.get(
        f"{lab.url}/debug/requests", params={"path": path}, headers=lab.auth_header()
    ) as response:
        [seen] = await response.json()
    assert seen["user"] == "alice" and seen["url"] == f"{path}?token=***"


async def test_in_teaching_mode_debug_requests_shows_everything_without_a_token(
    tmp_path: Path, http
) -> None:
    with start_server(token_delay=0, share_request_log=True) as lab:
        await new_answer(lab, http)
        async with http.get(f"{lab.url}/debug/requests", params={"path": "/new"}) as response:
            assert response.status == 200
            assert [r["user"] for r in await response.json()] == ["alice"]


# --- slow and stuck clients ---------------------------------------------------------


async def trickle(lab: LabServer, seconds: float) -> bytes:
    """A client sending its request head a byte every 0.1 s: what it got when cut off."""
    host, port = lab.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 1000
    try:
        async with asyncio.timeout(seconds):
            for byte in head:
                writer.write(bytes([byte]))
                await writer.drain()
                with_answer = asyncio.create_task(reader.read(4096))
                done, _ = await asyncio.wait([with_answer], timeout=0.1)
                if done:
                    return with_answer.result()
                with_answer.cancel()
        return b"<still open>"
    except ConnectionError:
        return b"<reset>"
    finally:
        writer.close()


async def test_clients_that_trickle_their_headers_are_cut_off_and_logged_once(http, caplog) -> None:
    caplog.set_level(logging.INFO, logger="sse_lab.server")
    with start_server(token_delay=0, head_timeout=1.0) as lab:
        got = await asyncio.gather(*(trickle(lab, seconds=20) for _ in range(30)))
        await still_serving(lab, http)
    assert all(b"408 Request Timeout" in g or g == b"<reset>" for g in got), got[:3]
    assert any(b"408 Request Timeout" in g for g in got)  # a reset may come first
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refusals) == 1, caplog.text


SERVE_WITH_FEW_FILES = """
import logging, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (200, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
from sse_lab.lab.launch import start_server
lab = start_server(token_delay=0, head_timeout=4.0, fd_margin=150)
print(lab.url, flush=True)
sys.stdin.readline()
lab.stop()
"""


async def test_near_the_open_file_limit_connections_are_refused_and_logged_once() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE_WITH_FEW_FILES],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdin is not None
        url = server.stdout.readline().strip()
        host, port = url.removeprefix("http://").split(":")
        # More idle connections than the server has descriptors for.
        opened = [await asyncio.open_connection(host, int(port)) for _ in range(250)]
        answers = await asyncio.gather(
            *(asyncio.wait_for(reader.read(4096), 20) for reader, _ in opened),
            return_exceptions=True,
        )
        busy = [a for a in answers if isinstance(a, bytes) and b"503 Service" in a]
        slow = [a for a in answers if isinstance(a, bytes) and b"408 Request" in a]
        assert len(busy) >= 100 and len(busy) + len(slow) == 250, answers[:3]
        for _, writer in opened:
            writer.close()
        async with httpx.AsyncClient() as client:  # the slots are free again
            assert (await client.get(f"{url}/v1/models")).status_code == 200
        server.stdin.write("\n")
        server.stdin.flush()
        _, log = server.communicate(timeout=30)
    finally:
        server.kill()
        server.wait()
    assert "Too many open files" not in log and "Traceback" not in log
    refusals = [line for line in log.splitlines() if line.startswith("sse_lab.server refused")]
    assert 1 <= len(refusals) <= 3, log[-2000:]


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts descriptors in /proc")
async def test_readers_that_never_read_hold_no_socket_after_the_end(http) -> None:
    with start_server(token_delay=0, stalled_reader_timeout=1.0) as lab:
        answer_id = await new_answer(lab, http, "Tell me everything about SSE")
        before = open_descriptors()
        host, port = lab.url.removeprefix("http://").split(":")
        request = f"GET /sse/{answer_id}?token={lab.tokens['alice']} HTTP/1.1\r\nHost: x\r\n\r\n"
        readers = []
        for _ in range(50):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            sock.sendall(request.encode())
            readers.append(sock)  # and never read from
        # Each reader costs this process two descriptors, its own and the server's, until
        # the server lets go of its end.
        assert await until(lambda: open_descriptors() >= before + 95)  # all are served
        assert await until(lambda: open_descriptors() <= before + 55, seconds=20)
        for sock in readers:
            sock.close()


# --- the database -------------------------------------------------------------------

LOCK_DATABASE = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


async def test_a_database_locked_by_another_process_stalls_no_other_request(
    tmp_path: Path, http, caplog
) -> None:
    path = tmp_path / "lab.db"
    with start_server(token_delay=0.05, db_path=str(path)) as lab:
        running = await new_answer(lab, http, "Tell me everything about SSE")
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCK_DATABASE, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert locker.stdout is not None and locker.stdin is not None
            assert locker.stdout.readline() == "locked\n"
            started = time.monotonic()
            await still_serving(lab, http)
            assert time.monotonic() - started < 2  # SQLite's default wait would be 5 s
            async with http.post(
                f"{lab.url}/new", json={"prompt": "hi"}, headers=lab.auth_header()
            ) as response:
                assert response.status == 503
                assert "database" in (await response.json())["error"]
            # The answer that was being written ends, as an error that says why.
            async with http.get(f"{lab.url}/sse/{running}", headers=lab.auth_header()) as r:
                events = await read_events(r)
            assert events[-1].event == "error"
            assert "could not store" in json.loads(events[-1].data)["message"]
        finally:
            assert locker.stdin is not None
            locker.stdin.write("\n")
            locker.stdin.flush()
            locker.wait(timeout=10)
        after = await new_answer(lab, http)  # once the lock is gone, all is as before
        async with http.get(f"{lab.url}/sse/{after}", headers=lab.auth_header()) as r:
            assert (await read_events(r))[-1].event == "done"
        async with http.get(f"{lab.url}/sse/{running}", headers=lab.auth_header()) as r:
            assert (await read_events(r))[-1].event == "error"
    assert_quiet(caplog)


async def test_an_end_the_database_refused_still_ends_the_answer_now_and_after(
    tmp_path: Path, http
) -> None:
    path = tmp_path / "lab.db"
    with start_server(token_delay=0.05, db_path=str(path)) as lab:
        answer_id = await new_answer(lab, http)
        with sqlite3.connect(path) as other:  # the database refuses every end from now on
            other.execute(
                "CREATE TRIGGER refuse BEFORE UPDATE ON answers"
                " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            )
        first = await read_sse(lab, http, answer_id)
        again = await read_sse(lab, http, answer_id)  # a reader that comes after the end
        with sqlite3.connect(path) as other:
            other.execute("DROP TRIGGER refuse")
        await read_sse(lab, http, await new_answer(lab, http))  # a commit that succeeds
    assert first[-1].event == again[-1].event == "error"
    assert [e.data for e in first] == [e.data for e in again]
    with start_server(token_delay=0, db_path=str(path)) as lab:  # and after a restart
        assert [e.data for e in await read_sse(lab, http, answer_id)] == [e.data for e in first]


async def read_sse(lab: LabServer, http: aiohttp.ClientSession, answer_id: str) -> list[Any]:
    async with http.get(f"{lab.url}/sse/{answer_id}", headers=lab.auth_header()) as response:
        return await read_events(response)


async def test_a_burst_log_reports_how_many_more_once_per_period(caplog) -> None:
    caplog.set_level(logging.INFO, logger="test.burst")
    burst = BurstLog(logging.getLogger("test.burst"), every=0.2)
    for n in range(5):
        burst.note("a slow client", f"number {n}")
    assert await until(lambda: len(caplog.records) == 2)
    first, summary = (r.getMessage() for r in caplog.records)
    assert first == "refused a slow client: number 0"
    assert summary == "refused 4 a slow client more in the last 0.2 s"


def test_python_m_sse_lab_serve_refuses_a_malformed_request_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    command = [sys.executable, "-m", "sse_lab", "serve", "--port", "0"]
    command += ["--db", str(tmp_path / "lab.db"), "--token", f"carol={SECRET}"]
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[4]
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(f"GET /sse?token={SECRET} HTTP/9.9\r\n\r\n".encode())
            answer = sock.recv(4096)
        assert b'{"error": "malformed request: ' in answer
        assert httpx.get(f"{url}/v1/models").status_code == 200
        server.send_signal(signal.SIGTERM)
        _, log = server.communicate(timeout=20)
        assert server.returncode == 0
    finally:
        server.kill()
        server.wait()
    assert SECRET not in log and "Traceback" not in log
    assert len([line for line in log.splitlines() if "refused" in line]) == 1
