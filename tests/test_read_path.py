"""benchmarks/read_path.py measures what serving one answer runs of the package: the lines
of the read path (the chat route, the SSE encoder), none of the built-in model's, and none
that only starting and stopping the server run."""

from __future__ import annotations

from pathlib import Path

from conftest import load_file

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "read_path.py"


def test_one_answer_runs_the_read_path_without_the_model_or_the_start_up() -> None:
    script = load_file(SCRIPT)
    counts: dict[str, int] = script.read_path()

    read_path = ("server/chat.py", "server/streams.py", "sse.py", "answers.py", "stores/sqlite.py")
    for module in read_path:
        assert module in counts, f"{module} is on the read path: {counts}"
    for module in ("model/__init__.py", "server/openai_api.py"):
        assert module not in counts, f"the built-in model is set aside: {counts}"
    for module in ("server/app.py", "lab/launch.py", "config.py"):
        assert module not in counts, f"{module} runs only at start and stop: {counts}"
    for module, count in counts.items():
        source_lines = len((script.PACKAGE / module).read_text().splitlines())
        assert 0 < count < source_lines, f"{module}: {count} of {source_lines} lines"
    assert list(counts.values()) == sorted(counts.values(), reverse=True)
