"""The planning demos: bad input is a message, never a traceback; the board shows the search's visits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from streamlit.testing.v1 import AppTest

from app.content.demos import DynaMazeParams, MctsTreeParams


def _render(name: str, params: dict) -> None:
    import sys
    from pathlib import Path

    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.widgets.demos import render_demo

    render_demo(name, params, key="t")


def test_lesson_params_are_checked() -> None:
    with pytest.raises(ValidationError, match="9 cells"):
        MctsTreeParams(board="XX")
    with pytest.raises(ValidationError, match="already over"):
        MctsTreeParams(board="XXXOO....")
    with pytest.raises(ValidationError, match="0 to 100"):
        DynaMazeParams(planning_steps=[0, 500])


def test_mcts_demo_draws_the_board_and_says_whether_the_move_is_perfect() -> None:
    at = AppTest.from_function(
        _render, args=("mcts-tree", {"board": "XX.OO....", "simulations": 300}), default_timeout=60
    ).run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1
    assert any("most visited move is cell 2" in c.value and "a perfect move" in c.value for c in at.caption)


def test_mcts_demo_answers_a_bad_or_finished_board_with_a_message() -> None:
    at = AppTest.from_function(_render, args=("mcts-tree", {}), default_timeout=60).run()
    at.text_input(key="t-board").set_value("XQ").run()
    assert not at.exception and any("9 cells" in w.value for w in at.warning)
    at.text_input(key="t-board").set_value("XXXOO....").run()
    assert not at.exception and any("game is over" in i.value for i in at.info)


def test_dyna_demo_draws_the_maze_and_the_curves() -> None:
    at = AppTest.from_function(_render, args=("dyna-maze", {"runs": 2, "episodes": 5}), default_timeout=60).run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2  # the maze and the curves
