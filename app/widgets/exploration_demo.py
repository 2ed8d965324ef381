"""Exploration demo: a count bonus on a long chain (live) and recorded HER runs on bit flipping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from algorithms.exploration import ChainConfig, chain_experiment
from app.content.demos import SparseExplorationParams
from app.widgets.charts import chart

HER_RUNS = Path(__file__).resolve().parents[2] / "lessons" / "data" / "her-bitflip.json"
PALETTE = ["#9aa0a6", "#2e86ab", "#e4572e", "#3bb273"]


@st.cache_data(show_spinner=False, max_entries=32)
def _chain(length: int, bonus: float, runs: int, episodes: int) -> dict[str, Any]:
    return chain_experiment(ChainConfig(length=length, bonus=bonus, runs=runs, episodes=episodes))


@st.cache_data(show_spinner=False, max_entries=2)
def load_her_runs() -> dict[str, Any]:
    return json.loads(HER_RUNS.read_text(encoding="utf-8"))


def _smooth(values: list[float], window: int = 10) -> list[float]:
    array = np.asarray(values)
    return [float(array[max(0, i - window + 1) : i + 1].mean()) for i in range(len(array))]


def sparse_exploration(params: SparseExplorationParams, key: str) -> None:
    length = st.slider("Chain length n", 5, 40, params.length, key=f"{key}-length")
    choices = sorted({0.0, 0.01, 0.1, 1.0, *params.bonuses})
    chosen = st.pills(
        "Count-bonus weight β", choices, default=list(params.bonuses), selection_mode="multi", key=f"{key}-beta"
    )
    if not chosen:
        st.info("Pick at least one β.", icon=":material/touch_app:")
        return
    with st.spinner("Running Q-learning on the chain…"):
        results = {beta: _chain(length, beta, params.runs, params.episodes) for beta in sorted(chosen)}
    fig = go.Figure()
    for i, (beta, result) in enumerate(results.items()):
        fig.add_trace(
            go.Scatter(
                x=list(range(1, params.episodes + 1)),
                y=_smooth(result["mean_return"]),
                mode="lines",
                name=f"β = {beta:g}" + (" (ε-greedy only)" if beta == 0 else ""),
                line={"color": PALETTE[i % len(PALETTE)]},
            )
        )
    fig.update_layout(
        title=f"Return per episode on a {length}-state chain (mean of {params.runs} runs, smoothed)",
        xaxis_title="episode",
        yaxis_title="return (goal +1, distractor +0.01)",
        height=320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.25},
    )
    chart(fig, key=f"{key}-chain", config={"displayModeBar": False})
    st.caption(
        " · ".join(
            f"β = {beta:g}: {r['found_goal']:.0%} of runs found the goal, goal in {r['goal_rate_last_50']:.0%} "
            "of the last 50 episodes"
            for beta, r in results.items()
        )
    )

    try:
        her = load_her_runs()
    except (OSError, json.JSONDecodeError) as error:
        st.error(f"The recorded HER runs cannot be read: {error}", icon=":material/error:")
        return
    by_variant: dict[bool, list[tuple[int, float]]] = {True: [], False: []}
    for run in her["runs"].values():
        by_variant[run["her"]].append((run["bits"], run["success_rate"][-1]))
    fig = go.Figure()
    for her_on, color in ((False, PALETTE[0]), (True, PALETTE[1])):
        points = sorted(by_variant[her_on])
        fig.add_trace(
            go.Scatter(
                x=[b for b, _ in points],
                y=[s for _, s in points],
                mode="lines+markers",
                name="DQN with HER" if her_on else "DQN without HER",
                line={"color": color},
            )
        )
    fig.update_layout(
        title="Bit flipping: greedy success rate after 10 epochs",
        xaxis_title="bits n (2^n goals)",
        yaxis_title="success rate",
        yaxis_range=[-0.02, 1.02],
        height=320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.25},
    )
    chart(fig, key=f"{key}-her", config={"displayModeBar": False})
    st.caption(f"{her.get('description', '')} Recorded with `{her.get('command', '')}`.")
