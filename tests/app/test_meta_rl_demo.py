"""The RL² demo: the recorded curves draw at once, and a fresh run trains only on a button press."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _render(params: dict) -> None:
    import sys
    from pathlib import Path

    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.widgets.demos import render_demo

    render_demo("meta-rl-bandits", params, key="t")


def test_recorded_curves_draw_and_a_fresh_run_waits_for_the_button() -> None:
    at = AppTest.from_function(_render, args=({},), default_timeout=300).run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1  # the recorded run only: nothing trains before the press
    recorded = next(c.value for c in at.caption if c.value.startswith("Regret after 50 pulls"))
    assert "RL² (trained GRU): 2.07 ± 0.08" in recorded and "Thompson sampling: 2.13" in recorded

    at.radio(key="t-distribution").set_value("dependent").run()
    assert "Thompson sampling: 2.09" in next(c.value for c in at.caption if c.value.startswith("Regret after"))

    at.slider(key="t-updates").set_value(50)
    at.button(key="t-train").click().run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2
    live = next(c.value for c in at.caption if "fresh tasks" in c.value and c.value.startswith("Regret after"))
    assert "RL² (trained GRU)" in live and "random" in live
