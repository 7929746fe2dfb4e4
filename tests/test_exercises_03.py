"""Notebook 03's exercises: each solution passes its check, and the stubs and usual slips fail."""

from __future__ import annotations

import base64

import aiohttp

from conftest import load_solution
from sse_lab import ServerSentEvent
from sse_lab.lab.exercises.websockets import check_binary_over_sse, check_follow_answer


def test_the_binary_solution_passes(capsys) -> None:
    solution = load_solution("03_binary_over_sse")
    assert check_binary_over_sse(solution.encode_binary, solution.decode_binary)
    assert capsys.readouterr().out.startswith("✅")


def test_the_binary_stub_fails_without_raising(capsys) -> None:
    assert not check_binary_over_sse(lambda payload: None, lambda event: None)
    assert "returned None" in capsys.readouterr().out


def test_bytes_smuggled_as_latin_1_text_lose_their_line_breaks(capsys) -> None:
    def encode_binary(payload: bytes) -> bytes:
        return ServerSentEvent(data=payload.decode("latin-1")).encode()

    def decode_binary(event: ServerSentEvent) -> bytes:
        return event.data.encode("latin-1")

    assert not check_binary_over_sse(encode_binary, decode_binary)
    assert "payload 2 came back different" in capsys.readouterr().out


def test_bytes_given_as_data_are_told_to_be_base64_encoded_first(capsys) -> None:
    solution = load_solution("03_binary_over_sse")

    def encode_binary(payload: bytes) -> bytes:
        return ServerSentEvent(data=payload).encode()

    assert not check_binary_over_sse(encode_binary, solution.decode_binary)
    out = capsys.readouterr().out
    assert "raised TypeError(\"a bytes-like object is required, not 'str'\")" in out
    assert "`data` must be a str, not bytes: base64-encode the payload and decode" in out


def test_base64_bytes_given_as_data_are_told_to_be_decoded(capsys) -> None:
    solution = load_solution("03_binary_over_sse")

    def encode_binary(payload: bytes) -> bytes:
        return ServerSentEvent(data=base64.b64encode(payload)).encode()

    assert not check_binary_over_sse(encode_binary, solution.decode_binary)
    assert "`data` must be a str, not bytes" in capsys.readouterr().out


def test_raw_bytes_after_data_are_reported(capsys) -> None:
    def encode_binary(payload: bytes) -> bytes:
        return b"data: " + payload + b"\n\n"

    assert not check_binary_over_sse(encode_binary, lambda event: event.data.encode())
    assert "❌ not yet" in capsys.readouterr().out


def test_base64_encoded_but_not_decoded_is_told_to_decode(capsys) -> None:
    solution = load_solution("03_binary_over_sse")
    assert not check_binary_over_sse(solution.encode_binary, lambda event: event.data.encode())
    out = capsys.readouterr().out
    assert "decode_binary returned its text as it is" in out
    assert "base64.b64decode(event.data)" in out
    assert "do not survive a text stream" not in out


def test_decoding_to_a_str_is_told_to_return_bytes(capsys) -> None:
    solution = load_solution("03_binary_over_sse")
    assert not check_binary_over_sse(solution.encode_binary, lambda event: event.data)
    assert "decode_binary returned a str: return bytes" in capsys.readouterr().out


async def test_the_follow_solution_passes(capsys) -> None:
    assert await check_follow_answer(load_solution("03_follow_answer").follow_answer)
    assert capsys.readouterr().out.startswith("✅")


async def test_the_follow_stub_fails_without_raising(capsys) -> None:
    async def follow_answer(ws_url: str, headers: dict[str, str], answer_id: str) -> None:
        return None

    assert not await check_follow_answer(follow_answer)
    assert "returned None" in capsys.readouterr().out


async def test_one_connection_is_not_enough(capsys) -> None:
    async def follow_answer(ws_url: str, headers: dict[str, str], answer_id: str) -> str:
        pieces = []
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(ws_url, headers=headers) as ws,
        ):
            await ws.send_json({"type": "follow", "id": answer_id, "after": 0})
            async for message in ws:
                if (data := message.json())["type"] == "delta":
                    pieces.append(data["text"])
        return "".join(pieces)

    assert not await check_follow_answer(follow_answer)
    out = capsys.readouterr().out
    assert "expected 'WebSockets leave" in out
    assert "dropped your only connection after 4 deltas; connect again" in out


async def test_starting_over_on_every_reconnect_is_told_to_send_the_last_seq(capsys) -> None:
    async def follow_answer(ws_url: str, headers: dict[str, str], answer_id: str) -> str:
        async with aiohttp.ClientSession() as session:
            for _ in range(10):
                async with session.ws_connect(ws_url, headers=headers) as ws:
                    await ws.send_json({"type": "follow", "id": answer_id, "after": 0})
                    async for _message in ws:
                        pass
        return ""

    assert not await check_follow_answer(follow_answer)
    assert "send the seq of the last delta" in capsys.readouterr().out


async def test_a_socket_without_the_token_is_refused(capsys) -> None:
    async def follow_answer(ws_url: str, headers: dict[str, str], answer_id: str) -> str:
        async with aiohttp.ClientSession() as session:
            await session.ws_connect(ws_url)
        return ""

    assert not await check_follow_answer(follow_answer)
    assert "without the Authorization header" in capsys.readouterr().out
