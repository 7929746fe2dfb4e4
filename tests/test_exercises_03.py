"""Notebook 03's exercises: each solution passes its check, and the stubs and usual slips fail.

A test that takes `said` runs in English and in Chinese (tests/conftest.py): `said(english,
chinese)` is what the check prints in that run's language."""

from __future__ import annotations

import base64

import aiohttp

from conftest import load_solution
from sse_lab import ServerSentEvent
from sse_lab.lab.exercises.websockets import check_binary_over_sse, check_follow_answer


def test_the_binary_solution_passes(capsys, said) -> None:
    solution = load_solution("03_binary_over_sse")
    assert check_binary_over_sse(solution.encode_binary, solution.decode_binary)
    assert capsys.readouterr().out.startswith(
        said(
            "✅ every payload came back intact; 1.3",
            "✅ 每个载荷都完好无损地回来了；每个字节要发送 1.3",
        )
    )


def test_the_binary_stub_fails_without_raising(capsys, said) -> None:
    assert not check_binary_over_sse(lambda payload: None, lambda event: None)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


def test_bytes_smuggled_as_latin_1_text_lose_their_line_breaks(capsys, said) -> None:
    def encode_binary(payload: bytes) -> bytes:
        return ServerSentEvent(data=payload.decode("latin-1")).encode()

    def decode_binary(event: ServerSentEvent) -> bytes:
        return event.data.encode("latin-1")

    assert not check_binary_over_sse(encode_binary, decode_binary)
    assert said("payload 2 came back different", "载荷 2 回来时变了") in capsys.readouterr().out


def test_bytes_given_as_data_are_told_to_be_base64_encoded_first(capsys, said) -> None:
    solution = load_solution("03_binary_over_sse")

    def encode_binary(payload: bytes) -> bytes:
        return ServerSentEvent(data=payload).encode()

    assert not check_binary_over_sse(encode_binary, solution.decode_binary)
    out = capsys.readouterr().out
    assert (
        said("raised ", "抛出了 ") + "TypeError(\"a bytes-like object is required, not 'str'\")"
        in out
    )
    assert (
        said(
            "`data` must be a str, not bytes: base64-encode the payload and decode",
            "`data` 必须是 str，不能是 bytes：先对载荷做 base64 编码，再把结果解码",
        )
        in out
    )


def test_base64_bytes_given_as_data_are_told_to_be_decoded(capsys, said) -> None:
    solution = load_solution("03_binary_over_sse")

    def encode_binary(payload: bytes) -> bytes:
        return ServerSentEvent(data=base64.b64encode(payload)).encode()

    assert not check_binary_over_sse(encode_binary, solution.decode_binary)
    out = capsys.readouterr().out
    assert said("`data` must be a str, not bytes", "`data` 必须是 str，不能是 bytes") in out


def test_raw_bytes_after_data_are_reported(capsys, said) -> None:
    def encode_binary(payload: bytes) -> bytes:
        return b"data: " + payload + b"\n\n"

    assert not check_binary_over_sse(encode_binary, lambda event: event.data.encode())
    assert said("❌ not yet", "❌ 还没通过") in capsys.readouterr().out


def test_base64_encoded_but_not_decoded_is_told_to_decode(capsys, said) -> None:
    solution = load_solution("03_binary_over_sse")
    assert not check_binary_over_sse(solution.encode_binary, lambda event: event.data.encode())
    out = capsys.readouterr().out
    assert (
        said("decode_binary returned its text as it is", "decode_binary 原样返回了它的文本") in out
    )
    assert "base64.b64decode(event.data)" in out
    assert said("do not survive a text stream", "经过文本流都会走样") not in out


def test_decoding_to_a_str_is_told_to_return_bytes(capsys, said) -> None:
    solution = load_solution("03_binary_over_sse")
    assert not check_binary_over_sse(solution.encode_binary, lambda event: event.data)
    assert (
        said(
            "decode_binary returned a str: return bytes",
            "decode_binary 返回了一个 str：应返回 bytes",
        )
        in capsys.readouterr().out
    )


async def test_the_follow_solution_passes(capsys, said) -> None:
    assert await check_follow_answer(load_solution("03_follow_answer").follow_answer)
    assert capsys.readouterr().out == said(
        "✅ follow_answer resumes after every drop\n", "✅ follow_answer 每次断开后都能续传\n"
    )


async def test_the_follow_stub_fails_without_raising(capsys, said) -> None:
    async def follow_answer(ws_url: str, headers: dict[str, str], answer_id: str) -> None:
        return None

    assert not await check_follow_answer(follow_answer)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


async def test_one_connection_is_not_enough(capsys, said) -> None:
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
    assert said("expected 'WebSockets leave", "应为 'WebSockets leave") in out
    assert (
        said(
            "dropped your only connection after 4 deltas; connect again",
            "在 4 个增量之后断开了你唯一的连接；再次连接",
        )
        in out
    )


async def test_starting_over_on_every_reconnect_is_told_to_send_the_last_seq(capsys, said) -> None:
    async def follow_answer(ws_url: str, headers: dict[str, str], answer_id: str) -> str:
        async with aiohttp.ClientSession() as session:
            for _ in range(10):
                async with session.ws_connect(ws_url, headers=headers) as ws:
                    await ws.send_json({"type": "follow", "id": answer_id, "after": 0})
                    async for _message in ws:
                        pass
        return ""

    assert not await check_follow_answer(follow_answer)
    out = capsys.readouterr().out
    assert said("send the seq of the last delta", "应发送你收到的最后一个增量的 seq") in out


async def test_a_socket_without_the_token_is_refused(capsys, said) -> None:
    async def follow_answer(ws_url: str, headers: dict[str, str], answer_id: str) -> str:
        async with aiohttp.ClientSession() as session:
            await session.ws_connect(ws_url)
        return ""

    assert not await check_follow_answer(follow_answer)
    out = capsys.readouterr().out
    assert said("without the Authorization header", "没有 Authorization 请求头的连接") in out
