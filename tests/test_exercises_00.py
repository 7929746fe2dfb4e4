"""Notebook 00's exercises: each solution passes its check, and the stubs and usual slips fail."""

from __future__ import annotations

import os

from conftest import load_solution
from sse_lab.lab.exercises.welcome import check_real_model_env, check_stream_stats


def test_the_stream_stats_solution_passes(capsys) -> None:
    assert check_stream_stats(load_solution("00_stream_stats").stream_stats)
    assert capsys.readouterr().out.startswith("✅")


def test_the_stream_stats_stub_fails_without_raising(capsys) -> None:
    assert not check_stream_stats(lambda arrivals: None)
    assert "returned None" in capsys.readouterr().out


def test_counting_every_token_over_the_whole_time_is_told_the_rule(capsys) -> None:
    assert not check_stream_stats(lambda arrivals: (arrivals[0], len(arrivals) / arrivals[-1]))
    assert "tokens/s, expected 10" in capsys.readouterr().out


def test_counting_distinct_moments_instead_of_tokens_fails(capsys) -> None:
    def stream_stats(arrivals: list[float]) -> tuple[float, float]:
        moments = sorted(set(arrivals))
        return moments[0], (len(moments) - 1) / (moments[-1] - moments[0])

    assert not check_stream_stats(stream_stats)
    assert "count tokens, not moments" in capsys.readouterr().out


def test_the_real_model_env_solution_passes(capsys) -> None:
    assert check_real_model_env(load_solution("00_real_model_env").real_model_env)
    assert capsys.readouterr().out.startswith("✅")


def test_the_real_model_env_stub_fails_without_raising(capsys) -> None:
    assert not check_real_model_env(lambda api_key, base_url=None, model=None: None)
    assert "returned None" in capsys.readouterr().out


def test_none_values_in_the_environment_are_refused(capsys) -> None:
    def real_model_env(api_key: str, base_url=None, model=None) -> dict[str, object]:
        return {"OPENAI_API_KEY": api_key, "OPENAI_BASE_URL": base_url, "SSE_LAB_MODEL": model}

    assert not check_real_model_env(real_model_env)
    assert "leave out a variable" in capsys.readouterr().out


def test_a_misspelt_variable_shows_where_the_answers_would_come_from(capsys) -> None:
    def real_model_env(api_key: str, base_url=None, model=None) -> dict[str, str]:
        return {"OPENAI_API_KEY": api_key, **({"OPENAI_MODEL": model} if model else {})}

    assert not check_real_model_env(real_model_env)
    assert (
        "model='gpt-4o-mini'; expected base_url='https://api.openai.com/v1', model='gpt-4.1-mini'"
        in capsys.readouterr().out
    )


def test_the_check_leaves_the_environment_as_it_was() -> None:
    before = dict(os.environ)
    check_real_model_env(load_solution("00_real_model_env").real_model_env)
    assert dict(os.environ) == before


def test_a_key_written_with_bearer_in_front_is_told_to_give_it_bare(capsys) -> None:
    solution = load_solution("00_real_model_env").real_model_env

    def real_model_env(api_key: str, base_url=None, model=None) -> dict[str, str]:
        return solution("Bearer " + api_key, base_url, model)

    assert not check_real_model_env(real_model_env)
    out = capsys.readouterr().out
    assert "OPENAI_API_KEY='Bearer sk-test', expected 'sk-test'" in out
    assert "give the key bare, the SDK adds `Bearer `" in out
