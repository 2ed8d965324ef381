"""Offline RL demo: one logged dataset, three learners, each played greedily in the real lava grid."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from algorithms.offline import LavaGrid, OfflineConfig, compare
from app.content.demos import OfflineRlParams
from app.widgets.charts import chart

COLORS = {"behaviour cloning": "#9aa0a6", "naive Q-learning": "#e4572e", "CQL": "#2e86ab"}


@st.cache_data(show_spinner=False, max_entries=32)
def _compare(config: OfflineConfig) -> dict:
    return compare(config)


def grid_figure(grid: LavaGrid, paths: dict[str, list[int]]) -> go.Figure:
    width = grid.shape[1]
    z = [[{"L": 2, "G": 1, "S": 1}.get(ch, 0) for ch in row] for row in grid.rows]
    text = [[ch if ch in "SGL" else "" for ch in row] for row in grid.rows]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=text,
            texttemplate="%{text}",
            colorscale=[[0, "#f5f6f8"], [0.5, "#cfe8d5"], [1, "#f4a582"]],
            showscale=False,
            xgap=2,
            ygap=2,
            hoverinfo="skip",
            name="grid",
            showlegend=False,
        )
    )
    for offset, (name, path) in zip((-0.15, 0.0, 0.15), paths.items(), strict=False):
        rows, cols = zip(*(divmod(s, width) for s in path), strict=True)
        fig.add_trace(
            go.Scatter(
                x=[c + offset for c in cols],
                y=[r + offset for r in rows],
                mode="lines+markers",
                name=name,
                line={"color": COLORS[name], "width": 3},
                marker={"size": 5},
            )
        )
    fig.update_layout(
        title="Greedy paths in the real grid (S start, G goal, L lava)",
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x"},
        legend={"orientation": "h", "y": -0.05},
    )
    return fig


def offline_rl(params: OfflineRlParams, key: str) -> None:
    a, b, c = st.columns(3)
    dataset = a.radio(
        "Logged by",
        ["random", "medium", "expert"],
        index=["random", "medium", "expert"].index(params.dataset),
        horizontal=True,
        key=f"{key}-dataset",
        help="random: uniform actions. medium: the safe detour along the top row. expert: the shortest path "
        "next to the lava. medium and expert take a random action with probability epsilon.",
    )
    episodes = b.slider("Episodes in the log", 5, 300, params.episodes, step=5, key=f"{key}-episodes")
    alpha = c.slider("CQL penalty α", 0.0, 5.0, float(params.alpha), step=0.25, key=f"{key}-alpha")
    config = OfflineConfig(dataset=dataset, episodes=episodes, alpha=alpha, epsilon=params.epsilon, seed=params.seed)
    with st.spinner("Logging the data and learning from it three ways…"):
        out = _compare(config)
    methods = out["methods"]
    st.caption(
        f"The log: {out['transitions']} transitions; the behaviour policy's mean return "
        f"{out['behaviour_return_mean']:.1f}; {out['logged_pairs']} of {out['all_pairs']} (state, action) pairs "
        "appear in it. Nothing else is ever collected."
    )
    cols = st.columns(3)
    for col, (name, row) in zip(cols, methods.items(), strict=True):
        col.metric(name, f"{row['return']:.0f}", help="return of the greedy policy in the real grid")
        col.caption(f"{row['end']} after {row['steps']} steps")
    left, right = st.columns(2)
    with left:
        chart(grid_figure(LavaGrid(), {n: r["path"] for n, r in methods.items()}), key=f"{key}-grid")
    with right:
        names = [n for n in methods if "estimated_start_value" in methods[n]]
        fig = go.Figure(
            [
                go.Bar(x=names, y=[methods[n]["estimated_start_value"] for n in names], name="Q's estimate at S"),
                go.Bar(x=names, y=[methods[n]["discounted_return"] for n in names], name="real discounted return"),
            ]
        )
        fig.update_layout(
            title="What Q promised at the start, and what its policy got",
            yaxis_title="value (γ = 0.99)",
            xaxis_title="learner",
            barmode="group",
            height=300,
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
            legend={"orientation": "h", "y": -0.2},
        )
        chart(fig, key=f"{key}-values", config={"displayModeBar": False})
