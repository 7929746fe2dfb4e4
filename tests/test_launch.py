"""Starting the lab from a cell or a shell: blocking clients work, stop is clean, serve runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from sse_lab.__main__ import exposure
from sse_lab.config import Upstream
from sse_lab.lab.launch import start_server
from sse_lab.model import answer_tokens

CAROL = "s3cret-of-carol-0123"  # a user's token on the command line


def test_blocking_clients_work_against_the_in_process_server(lab) -> None:
    with httpx.stream("GET", f"{lab.url}/sse?count=3&interval_ms=0") as response:
        body = b"".join(response.iter_bytes())
    assert body.count(b"\ndata: ") == 4  # three events and `done`

    client = openai.OpenAI(base_url=f"{lab.url}/v1", api_key="anything")
    reply = client.chat.completions.create(
        model="sse-lab-tiny", messages=[{"role": "user", "content": "What is SSE?"}]
    )
    assert reply.choices[0].message.content == "".join(answer_tokens("What is SSE?"))


def test_a_stopped_server_can_be_started_again_on_the_same_database(tmp_path: Path) -> None:
    db = str(tmp_path / "lab.db")
    first = start_server(token_delay=0, db_path=db)
    first.stop()
    first.stop()  # a second stop is harmless
    assert not first.running
    with start_server(token_delay=0, db_path=db) as second:
        assert httpx.get(f"{second.url}/v1/models").status_code == 200


def test_starting_again_with_the_same_arguments_replaces_the_earlier_server(
    tmp_path: Path, capsys
) -> None:
    # As when a notebook's start cell runs twice: the first server must not linger.
    db = str(tmp_path / "lab.db")
    first = start_server(token_delay=0, db_path=db)
    assert capsys.readouterr().out == ""
    with start_server(token_delay=0, db_path=db) as second:
        assert not first.running
        assert capsys.readouterr().out == (
            f"start_server: stopped the earlier lab server at {first.url}; this one replaces it\n"
        )
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{first.url}/v1/models")
        assert httpx.get(f"{second.url}/v1/models").status_code == 200
    with start_server(token_delay=0, db_path=db):  # the earlier one was stopped already
        assert capsys.readouterr().out == ""


def test_a_server_with_other_arguments_runs_beside_the_first(tmp_path: Path, capsys) -> None:
    # Notebook 02 runs `with start_server(retry_ms=1000) as slow_lab:` next to its `lab`.
    with start_server(token_delay=0, db_path=str(tmp_path / "lab.db")) as lab:
        with start_server(token_delay=0, retry_ms=1000) as slow_lab:
            assert lab.running and slow_lab.running
            for server in (lab, slow_lab):
                assert httpx.get(f"{server.url}/v1/models").status_code == 200
        assert lab.running
    assert capsys.readouterr().out == ""


def test_a_start_on_the_same_explicit_port_replaces_the_server_there(capsys) -> None:
    with start_server(token_delay=0) as free:  # a port nobody else uses right now
        port = int(free.url.rsplit(":", 1)[1])
    first = start_server(token_delay=0, port=port)
    with start_server(token_delay=0.01, port=port) as second:
        assert not first.running and second.url == first.url
        assert "stopped the earlier lab server" in capsys.readouterr().out
        assert httpx.get(f"{second.url}/v1/models").status_code == 200


def test_the_upstream_is_the_built_in_model_unless_an_api_key_is_set(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert Upstream.from_env().base_url is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("SSE_LAB_MODEL", "some-model")
    assert Upstream.from_env() == Upstream("http://127.0.0.1:9/v1", "sk-test", "some-model")


def test_python_m_sse_lab_serve_prints_url_and_tokens_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    command = [sys.executable, "-m", "sse_lab", "serve", "--port", "0", "--db"]
    command += [str(tmp_path / "lab.db"), "--token", f"carol={CAROL}"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", server.stdout.readline())
        assert url, "the first line names the URL"
        user_line = server.stdout.readline()
        assert f"carol: Authorization: Bearer {CAROL}" in user_line
        assert f"{url[0]}/#token={CAROL}" in user_line
        new = httpx.post(
            f"{url[0]}/new", json={"prompt": "hi"}, headers={"Authorization": f"Bearer {CAROL}"}
        )
        assert new.status_code == 201
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=20) == 0
    finally:
        server.kill()
        server.communicate()


def serve(tmp_path: Path, *options: str, **env: str) -> subprocess.Popen[str]:
    """`python -m sse_lab serve` on a free port, with `env` added to the environment."""
    command = [sys.executable, "-m", "sse_lab", "serve", "--port", "0"]
    command += ["--db", str(tmp_path / "lab.db"), *options]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SSE_"))}
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**environment, **env},
    )


REFUSED = {
    "two users, one token": (["--token", f"alice={CAROL}", "--token", f"bob={CAROL}"], {}),
    "the same, by the environment": ([], {"SSE_LAB_TOKENS": f"alice={CAROL},bob={CAROL}"}),
    "a user given twice": (["--token", f"carol={CAROL}", "--token", f"carol={CAROL}x"], {}),
    "a short token": (["--token", "carol=s3cret"], {}),
}


@pytest.mark.parametrize(("options", "env"), REFUSED.values(), ids=REFUSED.keys())
def test_serve_refuses_tokens_that_would_merge_users_or_be_guessed_in_one_line(
    tmp_path: Path, options: list[str], env: dict[str, str]
) -> None:
    server = serve(tmp_path, *options, **env)
    try:
        out, err = server.communicate(timeout=60)
    finally:
        server.kill()
        server.communicate()
    assert server.returncode != 0 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("sse_lab: "), err
    assert CAROL not in err and "s3cret" not in err  # no token is shown


def test_start_server_refuses_two_users_with_one_token_and_short_tokens() -> None:
    with pytest.raises(ValueError, match="'alice' and 'bob' have the same token"):
        start_server(users={"alice": CAROL, "bob": CAROL})
    with pytest.raises(ValueError, match="at least 16"):
        start_server(users={"carol": "s3cret"})


def test_serve_takes_the_tokens_from_the_environment_off_its_command_line(tmp_path: Path) -> None:
    bob = "bobs-own-token-456789"
    server = serve(tmp_path, SSE_LAB_TOKENS=f"alice={CAROL}, bob={bob}")
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(3)]
        url = lines[0].split()[4]
        assert f"user alice: Authorization: Bearer {CAROL}" in lines[1]
        assert f"user bob: Authorization: Bearer {bob}" in lines[2]
        new = httpx.post(
            f"{url}/new", json={"prompt": "hi"}, headers={"Authorization": f"Bearer {bob}"}
        )
        assert new.status_code == 201
        assert bob not in Path(f"/proc/{server.pid}/cmdline").read_text()
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=20) == 0
    finally:
        server.kill()
        server.communicate()


def test_serve_in_a_hubs_terminal_prints_the_chat_page_through_the_proxy(tmp_path: Path) -> None:
    hub = {"JUPYTERHUB_SERVICE_PREFIX": "/user/carol/", "JUPYTERHUB_PUBLIC_URL": ""}
    server = serve(tmp_path, "--token", f"carol={CAROL}", **hub)
    try:
        assert server.stdout is not None
        port = re.search(r"http://127\.0\.0\.1:(\d+)", server.stdout.readline())
        assert port, "the first line names the URL"
        assert server.stdout.readline().endswith(
            f"(chat page: /user/carol/proxy/{port[1]}/#token={CAROL})\n"
        )
    finally:
        server.kill()
        server.communicate()


def test_the_banner_warns_of_a_server_reachable_from_other_machines() -> None:
    for address in ("0.0.0.0", "192.168.1.20", "::"):
        warning = " ".join(exposure(address))
        assert "other machines can reach" in warning and "in clear" in warning, address
    for address in ("127.0.0.1", "127.0.0.2", "::1"):  # loopback: nothing to say
        assert exposure(address) == []


def test_the_browser_url_on_a_local_machine_is_the_servers_own(
    lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    assert lab.browser_url == f"{lab.url}/"
    assert httpx.get(lab.browser_url).headers["Content-Type"].startswith("text/html")


def test_under_a_hub_the_browser_url_goes_through_the_jupyter_servers_proxy(
    lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = lab.url.rsplit(":", 1)[1]
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    monkeypatch.delenv("JUPYTERHUB_PUBLIC_URL", raising=False)
    assert lab.browser_url == f"/user/alice/proxy/{port}/"  # a link clicked in JupyterLab

    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "")  # what a hub with no public_url sets
    assert lab.browser_url == f"/user/alice/proxy/{port}/"

    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/user/alice/")
    assert lab.browser_url == f"https://hub.example.org/user/alice/proxy/{port}/"
