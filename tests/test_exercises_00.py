"""Notebook 00's exercises: each solution passes its check, and the stubs and usual slips fail.

A test that takes `said` runs in English and in Chinese (tests/conftest.py): `said(english,
chinese)` is what the check prints in that run's language."""

from __future__ import annotations

import os

from conftest import load_solution
from sse_lab.lab.exercises.welcome import check_real_model_env, check_stream_stats


def test_the_stream_stats_solution_passes(capsys, said) -> None:
    assert check_stream_stats(load_solution("00_stream_stats").stream_stats)
    assert capsys.readouterr().out == said(
        "✅ stream_stats measures what the chat view shows\n",
        "✅ stream_stats 算出的正是聊天视图显示的数字\n",
    )


def test_the_stream_stats_stub_fails_without_raising(capsys, said) -> None:
    assert not check_stream_stats(lambda arrivals: None)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


def test_counting_every_token_over_the_whole_time_is_told_the_rule(capsys, said) -> None:
    assert not check_stream_stats(lambda arrivals: (arrivals[0], len(arrivals) / arrivals[-1]))
    assert said("tokens/s, expected 10", "个 token，应为 10") in capsys.readouterr().out


def test_counting_distinct_moments_instead_of_tokens_fails(capsys, said) -> None:
    def stream_stats(arrivals: list[float]) -> tuple[float, float]:
        moments = sorted(set(arrivals))
        return moments[0], (len(moments) - 1) / (moments[-1] - moments[0])

    assert not check_stream_stats(stream_stats)
    assert said("count tokens, not moments", "数的是 token，不是时刻") in capsys.readouterr().out


def test_the_real_model_env_solution_passes(capsys, said) -> None:
    assert check_real_model_env(load_solution("00_real_model_env").real_model_env)
    assert capsys.readouterr().out == said(
        "✅ real_model_env sets what Upstream.from_env() reads\n",
        "✅ real_model_env 设置的正是 Upstream.from_env() 读取的变量\n",
    )


def test_the_real_model_env_stub_fails_without_raising(capsys, said) -> None:
    assert not check_real_model_env(lambda api_key, base_url=None, model=None: None)
    assert said("returned None", "返回了 None") in capsys.readouterr().out


def test_none_values_in_the_environment_are_refused(capsys, said) -> None:
    def real_model_env(api_key: str, base_url=None, model=None) -> dict[str, object]:
        return {"OPENAI_API_KEY": api_key, "OPENAI_BASE_URL": base_url, "SSE_LAB_MODEL": model}

    assert not check_real_model_env(real_model_env)
    assert said("leave out a variable", "没有值的变量就不要放进去") in capsys.readouterr().out


def test_a_misspelt_variable_shows_where_the_answers_would_come_from(capsys, said) -> None:
    def real_model_env(api_key: str, base_url=None, model=None) -> dict[str, str]:
        return {"OPENAI_API_KEY": api_key, **({"OPENAI_MODEL": model} if model else {})}

    assert not check_real_model_env(real_model_env)
    expected = "base_url='https://api.openai.com/v1'"
    assert (
        said(
            f"model='gpt-4o-mini'; expected {expected}, model='gpt-4.1-mini'",
            f"model='gpt-4o-mini'；应为 {expected}、model='gpt-4.1-mini'",
        )
        in capsys.readouterr().out
    )


def test_the_check_leaves_the_environment_as_it_was() -> None:
    before = dict(os.environ)
    check_real_model_env(load_solution("00_real_model_env").real_model_env)
    assert dict(os.environ) == before


def test_a_key_written_with_bearer_in_front_is_told_to_give_it_bare(capsys, said) -> None:
    solution = load_solution("00_real_model_env").real_model_env

    def real_model_env(api_key: str, base_url=None, model=None) -> dict[str, str]:
        return solution("Bearer " + api_key, base_url, model)

    assert not check_real_model_env(real_model_env)
    out = capsys.readouterr().out
    assert (
        said(
            "OPENAI_API_KEY='Bearer sk-test', expected 'sk-test'",
            "OPENAI_API_KEY='Bearer sk-test'，应为 'sk-test'",
        )
        in out
    )
    assert (
        said(
            "give the key bare, the SDK adds `Bearer `",
            "只给密钥本身，SDK 会自己在 Authorization 请求头里加上 `Bearer `",
        )
        in out
    )
