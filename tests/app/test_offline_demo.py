"""The offline-RL demo draws the three learners' real returns, as the code computes them."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _render(params: dict) -> None:
    import sys
    from pathlib import Path

    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.widgets.demos import render_demo

    render_demo("offline-rl", params, key="t")


def test_offline_demo_shows_naive_failing_and_cql_following_the_data() -> None:
    at = AppTest.from_function(_render, args=({},), default_timeout=120).run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric] == ["-13", "-50", "-13"]  # BC, naive, CQL on the medium log
    assert len(at.get("plotly_chart")) == 2
    at.radio(key="t-dataset").set_value("expert").run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric] == ["-9", "-50", "-9"]
    at.slider(key="t-alpha").set_value(0.0).run()  # CQL without its penalty is naive Q-learning
    assert [m.value for m in at.metric][1:] == ["-50", "-50"]
