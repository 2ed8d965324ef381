"""Code references show the real source, with the file's own line numbers, markers hidden."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from algorithms import returns
from app.content.coderef import CodeRefError, resolve


def test_whole_function_matches_inspect() -> None:
    snippet = resolve("algorithms.returns:discounted_returns")
    source, start = inspect.getsourcelines(returns.discounted_returns)
    assert snippet.path == "algorithms/returns.py"
    assert snippet.first_line == start
    assert snippet.last_line == start + len(source) - 1
    assert all("lesson:" not in text for _, text in snippet.lines)
    assert len(snippet.lines) == len(source) - 2  # the two marker lines are hidden
    file_lines = Path(returns.__file__).read_text().splitlines()
    for number, text in snippet.lines:
        assert file_lines[number - 1].strip() == text.strip()


def test_region_is_dedented_and_keeps_line_numbers() -> None:
    snippet = resolve("algorithms.returns:discounted_returns#backward-recursion")
    file_lines = Path(returns.__file__).read_text().splitlines()
    start_marker = next(i for i, t in enumerate(file_lines, 1) if "lesson:start backward-recursion" in t)
    assert snippet.first_line == start_marker + 1
    assert snippet.text.splitlines()[0] == "running = 0.0"
    assert snippet.text.splitlines()[1].startswith("for t in reversed(")


def test_region_in_another_function_is_not_found(tmp_path: Path) -> None:
    (tmp_path / "algorithms").mkdir()
    (tmp_path / "algorithms" / "m.py").write_text(
        "def f():\n    # lesson:start r\n    x = 1\n    # lesson:end r\n    return x\n\n"
        "def g():\n    return 2\n\n"
        "class C:\n    @staticmethod\n    def h():\n        # lesson:start twice\n        a = 1\n"
        "        # lesson:start twice\n        # lesson:end twice\n        return a\n"
    )
    assert resolve("algorithms.m:f#r", root=tmp_path).lines == ((3, "x = 1"),)
    with pytest.raises(CodeRefError, match=r"region .r. not found in algorithms\.m:g"):
        resolve("algorithms.m:g#r", root=tmp_path)
    snippet = resolve("algorithms.m:C.h", root=tmp_path)
    assert snippet.first_line == 11  # the decorator belongs to the definition
    with pytest.raises(CodeRefError, match="starts more than once"):
        resolve("algorithms.m:C.h#twice", root=tmp_path)
    with pytest.raises(CodeRefError, match="'nope' is not defined in C"):
        resolve("algorithms.m:C.nope", root=tmp_path)


def test_end_marker_after_the_last_statement(tmp_path: Path) -> None:
    (tmp_path / "algorithms").mkdir()
    (tmp_path / "algorithms" / "m.py").write_text(
        "def f():\n    x = 1\n    # lesson:start tail\n    return x\n    # lesson:end tail\n\n\n# a module comment\n"
    )
    assert resolve("algorithms.m:f#tail", root=tmp_path).lines == ((4, "return x"),)
    whole = resolve("algorithms.m:f", root=tmp_path)
    assert whole.last_line == 4  # trailing blank lines and the module-level comment are not part of f
