"""Checks for notebook 00 (welcome): the chat view's two numbers, and the settings of a real model.

Each check runs the learner's function on a few cases, prints a verdict and returns
whether every case passed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Final
from unittest import mock

from sse_lab.config import Upstream
from sse_lab.lab.exercises import Verdict, verdict, with_hint
from sse_lab.lab.i18n import N_, _

__all__ = ["check_real_model_env", "check_stream_stats"]

# arrival times (s since Send) -> (time to first token, tokens per second after it), with a hint
_STATS_CASES: Final[tuple[tuple[tuple[float, ...], float, float, str], ...]] = (
    ((0.5, 0.6, 0.7, 0.8, 0.9), 0.5, 10.0, N_("4 tokens came after the first, in 0.4 s")),
    ((0.25, 0.5, 1.0), 0.25, 2 / 0.75, N_("2 tokens came after the first, in 0.75 s")),
    (
        (1.2, 1.2, 1.3, 1.7),
        1.2,
        6.0,
        N_("tokens can arrive together: count tokens, not moments"),
    ),
)

_ENV_NAMES: Final = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SSE_LAB_MODEL")
# (api_key, base_url, model) given to the learner's function -> the Upstream they must lead to
_ENV_CASES: Final[tuple[tuple[str, str | None, str | None, Upstream], ...]] = (
    ("sk-test", None, None, Upstream("https://api.openai.com/v1", "sk-test", "gpt-4o-mini")),
    (
        "sk-test",
        None,
        "gpt-4.1-mini",
        Upstream("https://api.openai.com/v1", "sk-test", "gpt-4.1-mini"),
    ),
    (
        "ollama",
        "http://localhost:11434/v1",
        "llama3.2",
        Upstream("http://localhost:11434/v1", "ollama", "llama3.2"),
    ),
)


def check_stream_stats(stream_stats: Callable[[list[float]], object]) -> Verdict:
    """Whether `stream_stats(arrivals)` gives (time to first token, tokens per second after it)."""
    for arrivals, first, rate, hint in _STATS_CASES:
        call = f"stream_stats({list(arrivals)})"
        try:
            got = stream_stats(list(arrivals))
        except Exception as error:
            return verdict(_("{call} raised {error!r}").format(call=call, error=error))
        if got is None:
            return verdict(
                _("{call} returned None: return (first_token_s, tokens_per_s)").format(call=call)
            )
        if not (isinstance(got, tuple) and len(got) == 2):
            return verdict(
                _("{call} returned {got!r}: return a pair (first_token_s, tokens_per_s)").format(
                    call=call, got=got
                )
            )
        if not all(isinstance(x, int | float) for x in got):
            return verdict(
                _("{call} returned {got!r}: both should be numbers").format(call=call, got=got)
            )
        if not math.isclose(got[0], first):
            return verdict(
                _("{call}: time to first token {got!r}, expected {expected}").format(
                    call=call, got=got[0], expected=first
                )
            )
        if not math.isclose(got[1], rate):
            problem = _("{call}: {got!r} tokens/s, expected {expected:.3g}").format(
                call=call, got=got[1], expected=rate
            )
            return verdict(with_hint(problem, _(hint)))
    return verdict(None, _("stream_stats measures what the chat view shows"))


def check_real_model_env(
    real_model_env: Callable[[str, str | None, str | None], object],
) -> Verdict:
    """Whether `real_model_env(api_key, base_url, model)` gives the environment variables that
    make `Upstream.from_env()` (and so the lab server) use that provider and model."""
    for api_key, base_url, model, expected in _ENV_CASES:
        call = f"real_model_env({api_key!r}, {base_url!r}, {model!r})"
        try:
            env = real_model_env(api_key, base_url, model)
        except Exception as error:
            return verdict(_("{call} raised {error!r}").format(call=call, error=error))
        if env is None:
            return verdict(
                _("{call} returned None: return a dict of environment variables").format(call=call)
            )
        if not isinstance(env, dict):
            return verdict(
                _("{call} returned a {type}: return a dict").format(
                    call=call, type=type(env).__name__
                )
            )
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            return verdict(
                _(
                    "{call} returned {env!r}: names and values are strings; leave out a "
                    "variable you have no value for"
                ).format(call=call, env=env)
            )
        got = _upstream_from(env)
        if got.api_key != expected.api_key:
            return verdict(_api_key_problem(call, got.api_key, expected.api_key))
        if got != expected:
            return verdict(
                _(
                    "{call} leads to base_url={base_url!r}, model={model!r}; expected "
                    "base_url={expected_base_url!r}, model={expected_model!r} (the names are "
                    "{names})"
                ).format(
                    call=call,
                    base_url=got.base_url,
                    model=got.model,
                    expected_base_url=expected.base_url,
                    expected_model=expected.model,
                    names=", ".join(_ENV_NAMES),
                )
            )
    return verdict(None, _("real_model_env sets what Upstream.from_env() reads"))


def _api_key_problem(call: str, got: str, expected: str) -> str:
    """What is wrong with the key the learner's variables lead to: most often a `Bearer `
    written in front, which the SDK adds itself (the values printed would otherwise look alike)."""
    if got.lower().startswith("bearer "):
        return _(
            "{call} sets OPENAI_API_KEY={got!r}, expected {expected!r}: give the key bare, "
            "the SDK adds `Bearer ` to the Authorization header itself"
        ).format(call=call, got=got, expected=expected)
    return _("{call} sets OPENAI_API_KEY={got!r}, expected {expected!r}").format(
        call=call, got=got, expected=expected
    )


def _upstream_from(env: dict[str, str]) -> Upstream:
    """What `Upstream.from_env()` makes of `env` alone, this process's own variables aside."""
    with mock.patch.dict(os.environ):
        for name in _ENV_NAMES:
            os.environ.pop(name, None)
        os.environ.update(env)
        return Upstream.from_env()
