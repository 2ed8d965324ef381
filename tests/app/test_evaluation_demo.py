"""The seed-evaluation demo: the recorded runs load, the numbers on the page are the code's, and the
interval widens when the learner uses fewer seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from algorithms.evaluation import bootstrap_interval, load_score_file

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "lessons" / "data" / "reinforce-cartpole-seeds.json"


def _render(params: dict) -> None:
    import sys
    from pathlib import Path

    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.widgets.demos import render_demo

    render_demo("seed-evaluation", params, key="t")


def test_recorded_runs_are_scores_of_twenty_seeds_per_group() -> None:
    data = json.loads(RECORDED.read_text())
    groups = load_score_file(RECORDED)
    assert set(groups) == {"with baseline", "without baseline"}
    for name, scores in groups.items():
        assert scores.shape == (20, 1)
        assert data["groups"][name]["seeds"] == list(range(20))
        assert np.all((scores >= 0) & (scores <= 500))  # CartPole-v1 returns


def test_lesson_quotes_what_the_code_computes_on_the_recorded_runs() -> None:
    lesson = (ROOT / "lessons" / "beyond-one-run.yaml").read_text()
    groups = load_score_file(RECORDED)
    point, lower, upper = bootstrap_interval(groups["with baseline"], "iqm", reps=2000, seed=0)
    assert "**166, 95% interval [126, 220]**" in lesson
    assert (round(float(point)), round(float(lower)), round(float(upper))) == (166, 126, 220)
    point, lower, upper = bootstrap_interval(groups["without baseline"], "iqm", reps=2000, seed=0)
    assert "**100 [77, 147]**" in lesson
    assert (round(float(point)), round(float(lower)), round(float(upper))) == (100, 77, 147)


def _iqm_caption(at: AppTest, name: str) -> tuple[float, float]:
    caption = next(c.value for c in at.caption if c.value.startswith("95% CI"))
    low, high = caption.split("[")[1].split("]")[0].split(",")
    return float(low), float(high)


def test_demo_shows_the_iqm_and_widens_with_fewer_seeds() -> None:
    at = AppTest.from_function(_render, args=({"seeds": 20},), default_timeout=120).run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric][:2] == ["166", "100"]
    assert len(at.get("plotly_chart")) == 2
    low20, high20 = _iqm_caption(at, "with baseline")
    at.slider(key="t-n").set_value(5).run()
    assert not at.exception, at.exception
    low5, high5 = _iqm_caption(at, "with baseline")
    assert high5 - low5 > high20 - low20
