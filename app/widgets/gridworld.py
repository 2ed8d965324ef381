"""The gridworld demo: values as a heatmap, greedy arrows, animated through the sweeps."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from algorithms.mdp import (
    FiniteMDP,
    greedy_actions,
    gridworld_4x4,
    gridworld_5x5,
    policy_evaluation,
    uniform_policy,
    value_iteration,
)
from app.content.demos import GridworldParams
from app.widgets.charts import chart

ARROWS = ("↑", "→", "↓", "←")  # GRID_ACTIONS order: up, right, down, left
MAX_FRAMES = 40


def frame_indices(sweeps: int, limit: int = MAX_FRAMES) -> list[int]:
    """Every early sweep (where the values move most), then geometrically spaced ones, then the last."""
    early = list(range(min(sweeps, 12) + 1))
    if sweeps <= 12:
        return early
    late = np.unique(np.geomspace(13, sweeps, limit - len(early)).astype(int)).tolist()
    return sorted(set(early + late + [sweeps]))


def cell_text(mdp: FiniteMDP, V: np.ndarray, best: np.ndarray) -> np.ndarray:
    labels = mdp.state_labels or ("",) * mdp.num_states
    text = []
    for s in range(mdp.num_states):
        terminal = mdp.terminal is not None and mdp.terminal[s]
        arrows = "" if terminal else "".join(a for a, ok in zip(ARROWS, best[s], strict=True) if ok)
        tag = f"<b>{labels[s]}</b> " if labels[s] and not labels[s].isdigit() else ""
        text.append(f"{tag}{V[s]:.1f}<br>{arrows}")
    return mdp.to_grid(np.array(text, dtype=object))


def build_mdp(grid: str, gamma: float, reward_a: float, reward_b: float) -> FiniteMDP:
    if grid == "gridworld-4x4":
        return gridworld_4x4(gamma)
    return gridworld_5x5(gamma, reward_a=reward_a, reward_b=reward_b)


def gridworld_figure(mdp: FiniteMDP, history: list[np.ndarray], title: str, shown: int | None = None) -> go.Figure:
    """`shown`: the sweep drawn first (one of `frame_indices`; the last by default)."""
    indices = frame_indices(len(history) - 1)
    shown = indices[-1] if shown not in indices else shown
    all_values = np.concatenate([history[i] for i in indices])
    zmin, zmax = float(all_values.min()), float(all_values.max())

    def heatmap(k: int) -> go.Heatmap:
        V = history[k]
        best = greedy_actions(mdp.P, mdp.R, V, mdp.gamma)
        return go.Heatmap(
            z=mdp.to_grid(V),
            text=cell_text(mdp, V, best),
            texttemplate="%{text}",
            textfont={"size": 14},
            colorscale="RdBu",
            zmid=0 if zmin < 0 < zmax else None,
            zmin=zmin,
            zmax=zmax,
            showscale=False,
            hovertemplate="row %{y}, col %{x}<br>V = %{z:.3f}<extra></extra>",
            xgap=2,
            ygap=2,
        )

    frames = [go.Frame(data=[heatmap(k)], name=str(k)) for k in indices]
    fig = go.Figure(data=[heatmap(shown)], frames=frames)
    steps = [
        {
            "args": [[str(k)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
            "label": str(k),
            "method": "animate",
        }
        for k in indices
    ]
    fig.update_layout(
        title=title,  # written above the chart by chart(), where it wraps on a phone
        height=540,
        margin={"l": 10, "r": 10, "t": 64, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x"},
        sliders=[
            {
                "active": indices.index(shown),
                "currentvalue": {"prefix": "after sweep k = "},
                "steps": steps,
                # Full width on a row of its own below Play / Pause: side by side they overlap on a phone.
                "x": 0,
                "len": 1.0,
                "y": 0,
                "yanchor": "top",
                "pad": {"t": 50},
            }
        ],
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "showactive": False,
                "x": 0,
                "y": 0,
                "xanchor": "left",
                "yanchor": "top",
                "pad": {"t": 8},
                "buttons": [
                    {
                        "label": "▶ Play",
                        "method": "animate",
                        "args": [
                            None,
                            {
                                "frame": {"duration": 350, "redraw": True},
                                "fromcurrent": False,
                                "transition": {"duration": 0},
                            },
                        ],
                    },
                    {
                        "label": "❚❚ Pause",
                        "method": "animate",
                        "args": [[None], {"frame": {"duration": 0}, "mode": "immediate"}],
                    },
                ],
            }
        ],
    )
    return fig


def gridworld_dp(params: GridworldParams, key: str) -> None:
    top = st.columns([3, 3])
    with top[0]:
        grid = st.segmented_control(
            "Grid",
            ["gridworld-5x5", "gridworld-4x4"],
            default=params.grid,
            required=True,
            format_func=lambda g: {"gridworld-5x5": "5x5 with A and B", "gridworld-4x4": "4x4 with two exits"}[g],
            key=f"{key}-grid",
        )
    with top[1]:
        method = st.segmented_control(
            "Method",
            ["policy-evaluation", "value-iteration"],
            default=params.method,
            required=True,
            format_func=lambda m: {
                "policy-evaluation": "Evaluate the random policy",
                "value-iteration": "Value iteration",
            }[m],
            key=f"{key}-method",
        )
    episodic = grid == "gridworld-4x4"
    cols = st.columns(3)
    with cols[0]:
        # The 5x5 task is continuing: gamma = 1 would make every value infinite.
        gamma = st.slider(
            "Discount γ",
            0.0,
            1.0 if episodic else 0.99,
            value=min(params.gamma, 1.0 if episodic else 0.99),
            step=0.01,
            key=f"{key}-gamma-{grid}",
        )
    reward_a = reward_b = 0.0
    if not episodic:
        with cols[1]:
            reward_a = st.number_input("Reward at A", -20.0, 20.0, 10.0, 1.0, key=f"{key}-ra")
        with cols[2]:
            reward_b = st.number_input("Reward at B", -20.0, 20.0, 5.0, 1.0, key=f"{key}-rb")

    mdp = build_mdp(grid, gamma, reward_a, reward_b)
    if method == "value-iteration":
        result = value_iteration(mdp.P, mdp.R, mdp.gamma, theta=1e-6, max_sweeps=2000)
        title = "Value iteration: v_k → v*, arrows = greedy policy"
    else:
        result = policy_evaluation(
            mdp.P, mdp.R, uniform_policy(mdp.num_states, mdp.num_actions), mdp.gamma, theta=1e-6, max_sweeps=2000
        )
        title = "Evaluating the equiprobable random policy: v_k → v_π, arrows = greedy w.r.t. v_k"
    history = list(result.history)
    sweeps = len(history) - 1
    # Plotly's Play button and sweep slider are SVG that a keyboard cannot reach: this Streamlit slider
    # steps through the same sweeps with Tab and the arrow keys (docs/accessibility.md).
    indices = frame_indices(sweeps)
    shown = st.select_slider(
        "Sweep shown (arrow keys step through the sweeps)",
        options=indices,
        value=indices[-1],
        format_func=lambda k: f"after sweep {k}",
        key=f"{key}-sweep-{grid}-{method}-{sweeps}",
    )
    chart(gridworld_figure(mdp, history, title, shown), key=f"{key}-chart", config={"displayModeBar": False})
    final_best = greedy_actions(mdp.P, mdp.R, history[-1], mdp.gamma)
    settled = next(
        k for k in range(sweeps + 1) if np.array_equal(greedy_actions(mdp.P, mdp.R, history[k], mdp.gamma), final_best)
    )
    a, b = st.columns(2)
    a.metric("Sweeps until values change < 1e-6", f"{sweeps}" + ("" if result.converged else " (not converged)"))
    b.metric("Sweeps until the greedy arrows stop changing", settled)
    st.caption(
        "Press ▶ Play, drag the chart's slider or move the sweep slider above it to step through the sweeps. "
        "The greedy policy usually settles "
        "long before the values do: that is why policy iteration needs so few iterations."
    )
