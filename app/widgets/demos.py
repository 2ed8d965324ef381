"""How each registered demo is drawn. Names and parameters are declared in app/content/demos.py."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots
from pydantic import ValidationError

from algorithms.returns import discount_weights, discounted_returns, effective_horizon
from app.content.demos import DEMOS, DemoParams, ReturnsExplorerParams
from app.widgets.charts import chart

ACCENT = "#e4572e"
MUTED = "#9aa0a6"
BLUE = "#2e86ab"


def _parse_rewards(text: str) -> list[float] | str:
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        return "Enter at least one reward."
    try:
        values = [float(p) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not _is_float(p))
        return f"'{bad}' is not a number. Write rewards separated by commas, e.g. 0, 0, 1, 10."
    if len(values) > 200:
        return f"{len(values)} rewards is more than this demo draws (200)."
    if not all(np.isfinite(values)):
        return "Rewards must be finite numbers."
    return values


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def returns_explorer(params: ReturnsExplorerParams, key: str) -> None:
    default_text = ", ".join(f"{r:g}" for r in params.rewards)
    left, right = st.columns([3, 2])
    with left:
        text = st.text_input("Rewards r₁, r₂, …", value=default_text, key=f"{key}-rewards")
    with right:
        gamma = st.slider("Discount γ", 0.0, 1.0, value=float(params.gamma), step=0.01, key=f"{key}-gamma")
    rewards = _parse_rewards(text)
    if isinstance(rewards, str):
        st.warning(rewards, icon=":material/edit:")
        rewards = list(params.rewards)

    r = np.asarray(rewards, dtype=np.float64)
    steps = np.arange(len(r))  # t = 0 .. T-1: r_{t+1} is collected after step t
    weights = discount_weights(gamma, len(r))
    G = discounted_returns(r, gamma)

    a, b, c = st.columns(3)
    a.metric("Return from the start, G₀", f"{G[0]:.3f}")
    horizon = effective_horizon(gamma)
    b.metric("Effective horizon 1/(1-γ)", "∞" if np.isinf(horizon) else f"{horizon:.1f} steps")
    c.metric("Undiscounted sum", f"{r.sum():g}")

    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        row_heights=[0.4, 0.6],
        subplot_titles=(
            "Weight γᵏ on the reward k steps ahead",
            "Rewards rₜ₊₁ and the return Gₜ from each step t",
        ),
    )
    fig.add_trace(
        go.Bar(
            x=steps,
            y=weights,
            name="γᵏ",
            marker_color=BLUE,
            hovertemplate="k=%{x}: γᵏ=%{y:.3f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(go.Bar(x=steps, y=r, name="reward rₜ₊₁", marker_color=MUTED, opacity=0.6), row=2, col=1)
    fig.add_trace(
        go.Scatter(x=steps, y=G, name="return Gₜ", mode="lines+markers", line={"color": ACCENT}), row=2, col=1
    )
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    fig.update_xaxes(
        title_text="t (steps from now, k, on the top chart)", dtick=1 if len(r) <= 30 else None, row=2, col=1
    )
    fig.update_layout(
        height=460,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        bargap=0.25,
        legend={"orientation": "h", "y": -0.15},
        title=None,
    )
    chart(fig, key=f"{key}-chart", config={"displayModeBar": False})
    st.caption(
        f"G₀ = Σₖ γᵏ rₖ₊₁ = {G[0]:.3f}. The line on the lower chart is the return from each step; "
        "it jumps where a reward is collected and decays by γ per step before it."
    )


# A demo's module is imported when a page first draws it: several pull in torch or gymnasium, and a
# lesson that shows none of them should not wait for those imports.
RENDERERS: dict[str, Callable[[DemoParams, str], None] | str] = {
    "returns-explorer": returns_explorer,  # type: ignore[dict-item]
    "gridworld-dp": "app.widgets.gridworld:gridworld_dp",
    "cliff-walking": "app.widgets.td_demos:cliff_walking",
    "dosing-rewards": "app.widgets.td_demos:dosing_rewards",
    "bandit-testbed": "app.widgets.bandit_demos:bandit_testbed",
    "contextual-bandits": "app.widgets.bandit_demos:contextual_bandits",
    "live-run": "app.widgets.runs:live_run",
    "rlhf-compare": "app.widgets.rlhf_demo:rlhf_compare",
    "gae-explorer": "app.widgets.gae_demo:gae_explorer",
    "ppo-clip-explorer": "app.widgets.ppo_demo:ppo_clip_explorer",
    "debug-lab": "app.widgets.debug_demo:debug_lab_demo",
    "dyna-maze": "app.widgets.planning_demos:dyna_maze",
    "mcts-tree": "app.widgets.planning_demos:mcts_tree",
    "seed-evaluation": "app.widgets.evaluation_demo:seed_evaluation",
    "offline-rl": "app.widgets.offline_demo:offline_rl",
    "sparse-exploration": "app.widgets.exploration_demo:sparse_exploration",
    "meta-rl-bandits": "app.widgets.meta_rl_demo:meta_rl_bandits",
}


def renderer_for(name: str) -> Callable[[DemoParams, str], None] | None:
    found = RENDERERS.get(name)
    if isinstance(found, str):
        module, _, function = found.partition(":")
        found = getattr(importlib.import_module(module), function)
    return found


def render_demo(name: str, raw_params: dict, key: str) -> None:
    spec = DEMOS.get(name)
    renderer = renderer_for(name)
    if spec is None or renderer is None:
        st.error(f"Unknown demo '{name}'.", icon=":material/error:")
        return
    with st.container(border=True):
        st.markdown(f"**:material/science: {spec.title}**")
        try:
            params = spec.params.model_validate(raw_params)
        except ValidationError as exc:  # validation catches this first; a page never shows a traceback
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in exc.errors())
            st.error(f"This demo's settings are wrong: {problems}", icon=":material/error:")
            return
        renderer(params, key)
