"""The exploration demo: the chain runs live with the code's numbers, and the recorded HER runs draw."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _render(params: dict) -> None:
    import sys
    from pathlib import Path

    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.widgets.demos import render_demo

    render_demo("sparse-exploration", params, key="t")


def test_exploration_demo_draws_the_chain_and_the_her_runs() -> None:
    at = AppTest.from_function(_render, args=({"bonuses": [0.0, 0.01]},), default_timeout=300).run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2
    caption = next(c.value for c in at.caption if c.value.startswith("β = 0:"))
    assert "β = 0: 0% of runs found the goal" in caption
    assert "β = 0.01: 100% of runs found the goal" in caption
