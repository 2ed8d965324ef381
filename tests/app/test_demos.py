"""Every declared demo has a renderer, and renders with its defaults without an exception."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.content.demos import DEMOS
from app.widgets.demos import RENDERERS

REQUIRED = {"live-run": {"algorithm": "tabular"}}  # demos whose params have no defaults


def test_every_demo_has_a_renderer_and_back() -> None:
    assert set(DEMOS) == set(RENDERERS)


def _render(name: str, params: dict) -> None:
    import sys
    from pathlib import Path

    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.widgets.demos import render_demo

    render_demo(name, params, key="t")


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_demo_renders_with_defaults(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    at = AppTest.from_function(_render, args=(name, REQUIRED.get(name, {})), default_timeout=120).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_demo_settings_that_do_not_fit_show_an_error_in_place_not_a_traceback(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    at = AppTest.from_function(_render, args=("returns-explorer", {"gamma": 7}), default_timeout=60).run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert "settings are wrong" in error.value and "gamma" in error.value


def test_debug_lab_trains_both_runs_on_a_click_and_draws_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    params = {"bugs": ["bug_wrong_sign"], "total_timesteps": 1024, "seed": 3}
    at = AppTest.from_function(_render, args=("debug-lab", params), default_timeout=120).run()
    assert not at.exception, at.exception
    assert not at.get("plotly_chart"), "nothing trains before the button is pressed"
    at.button(key="t-go").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 1
    assert any("greedy evaluation" in m.label for m in at.metric)
    at.multiselect(key="t-bugs").set_value([]).run()  # untick everything: a hint, not a crash
    assert not at.exception, at.exception
    assert any("at least one bug" in i.value for i in at.info)


def test_debug_lab_reports_a_nan_loss_instead_of_raising(monkeypatch) -> None:
    from algorithms.contract import NonFiniteLossError
    from app.widgets import debug_demo

    def exploding(config, on_update=None, should_stop=None):
        on_update({"global_step": 512.0, "progress": 0.5, "charts/episodic_return": 12.0})
        raise NonFiniteLossError("losses/policy became nan at step 1024: try a smaller learning rate")

    monkeypatch.setattr(debug_demo, "train", exploding)
    result = debug_demo.run_lab(("bug_log_prob_ratio",), 2048, 1, on_update=lambda m: None)
    assert result["error"].startswith("losses/policy became nan")
    assert len(result["history"]) == 1 and result["final"] == {}


def test_debug_lab_asks_every_learner_to_predict_even_when_the_results_are_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    params = {"bugs": ["bug_wrong_sign"], "total_timesteps": 1024, "seed": 4}
    first = AppTest.from_function(_render, args=("debug-lab", params), default_timeout=120).run()
    first.button(key="t-go").click().run()
    assert len(first.get("plotly_chart")) == 1
    later = AppTest.from_function(_render, args=("debug-lab", params), default_timeout=120).run()  # another learner
    assert not later.exception, later.exception
    assert not later.get("plotly_chart"), "the cached comparison is not revealed before the button"
    assert any("Predict first" in c.value for c in later.caption)
    later.button(key="t-go").click().run()
    assert len(later.get("plotly_chart")) == 1


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("cliff-walking", {"episodes": 50, "runs": 2, "seed": 11}),
        ("dosing-rewards", {"seed": 5}),
    ],
)
def test_training_demos_wait_for_a_press_then_draw_for_everyone(name, params, tmp_path, monkeypatch) -> None:
    """A lesson's first render does not train agents; the press trains them, and a later learner on the
    same server sees the trained charts at once."""
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    at = AppTest.from_function(_render, args=(name, params), default_timeout=120).run()
    assert not at.exception, at.exception
    assert not at.get("plotly_chart"), "nothing trains before the button is pressed"
    assert any("Press the button" in i.value for i in at.info)
    at.button(key="t-train").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.get("plotly_chart")
    assert not any("Press the button" in i.value for i in at.info), "the invitation goes once pressed"
    later = AppTest.from_function(_render, args=(name, params), default_timeout=120).run()
    assert not later.exception, later.exception
    assert later.get("plotly_chart"), "settings already trained on this server are drawn without a press"
    assert not any(b.key == "t-train" for b in later.button)


def test_the_gridworld_sweeps_can_be_stepped_with_a_streamlit_slider(tmp_path, monkeypatch) -> None:
    """Plotly's Play button and slider are SVG a keyboard cannot reach: a labelled Streamlit slider
    chooses the sweep the chart draws (docs/accessibility.md)."""
    import base64
    import json

    import numpy as np

    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    params = {"grid": "gridworld-4x4", "method": "policy-evaluation", "gamma": 1.0}
    at = AppTest.from_function(_render, args=("gridworld-dp", params), default_timeout=120).run()
    assert not at.exception, at.exception
    (slider,) = [s for s in at.select_slider if s.label.startswith("Sweep shown")]

    def drawn() -> tuple[list, int]:
        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
        z = spec["data"][0]["z"]  # plotly sends arrays as base64 float64
        values = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).tolist() if "bdata" in z else z
        return np.ravel(values).tolist(), spec["layout"]["sliders"][0]["active"]

    last_z, last_active = drawn()
    assert slider.options[-1] == f"after sweep {slider.value}" and last_active == len(slider.options) - 1
    slider.set_value(0).run()
    assert not at.exception, at.exception
    first_z, first_active = drawn()
    assert first_active == 0
    assert all(v == 0 for v in first_z), "before the first sweep every value is 0"
    assert first_z != last_z


def test_the_ppo_clip_explorer_tabulates_its_sample_without_a_data_grid(tmp_path, monkeypatch) -> None:
    """Its two rows were an st.dataframe: the grid's and Arrow's chunks (1.2 MB of JavaScript) loaded
    on the PPO lesson's first visit for them alone. A Markdown table says the same: with r = 1.3 and
    eps = 0.2, A = +2 is clipped (1.2 x 2 = 2.4, no gradient); A = -2 is not (1.3 x -2 = -2.6, slope -2)."""
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    params = {"clip_eps": 0.2, "ratio": 1.3, "advantage": 2.0}
    at = AppTest.from_function(_render, args=("ppo-clip-explorer", params), default_timeout=120).run()
    assert not at.exception, at.exception
    assert not at.dataframe
    table = next(m.value for m in at.markdown if m.value.startswith("| advantage"))
    # table_markdown escapes Markdown's special signs, "-" among them: "\-2" is drawn as "-2".
    assert table.splitlines()[2:] == ["| 2 | 2.4 | 0 | no: clipped |", r"| \-2 | \-2.6 | \-2 | yes |"], table
