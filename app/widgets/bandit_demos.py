"""The 10-armed testbed and the contextual recommender, live, with a progress bar."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from algorithms.bandits import run_contextual, run_testbed
from app.content.demos import BanditTestbedParams, ContextualBanditParams
from app.widgets.charts import chart
from app.words import counted

AGENT_NAMES = {
    "eps:0": "greedy (ε = 0)",
    "eps:0.01": "ε-greedy 0.01",
    "eps:0.1": "ε-greedy 0.1",
    "optimistic:5": "optimistic Q₁ = 5, greedy",
    "ucb:2": "UCB, c = 2",
    "gradient:0.1": "gradient, α = 0.1",
    "thompson": "Thompson sampling",
    "eps-const:0.1": "ε-greedy 0.1, constant α",
    "random": "random",
    "linucb": "LinUCB",
    "lints": "linear Thompson",
}
PALETTE = ["#2e86ab", "#e4572e", "#3bb273", "#7768ae", "#f3a712", "#55585e", "#d1495b", "#00798c"]


def _progress_callback(bar, label: str):
    def on_update(metrics: dict[str, float]) -> None:
        if "progress" in metrics:
            bar.progress(min(1.0, float(metrics["progress"])), text=label)

    return on_update


_RESULTS: OrderedDict[tuple, dict] = OrderedDict()
_RESULTS_LOCK = threading.Lock()


def _cached(key: tuple, compute: Callable[[], dict]) -> dict:
    """Results shared across sessions, like st.cache_data, but without replaying the progress bar's
    element calls: st.cache_data records st.* calls made inside the cached function (our progress
    callback) and replays them into another run's page, where that bar does not exist."""
    with _RESULTS_LOCK:
        if key in _RESULTS:
            _RESULTS.move_to_end(key)
            return _RESULTS[key]
    result = compute()
    with _RESULTS_LOCK:
        _RESULTS[key] = result
        while len(_RESULTS) > 16:
            _RESULTS.popitem(last=False)
    return result


def _testbed(agents: tuple[str, ...], runs: int, steps: int, nonstationary: bool, seed: int, on_update) -> dict:
    return _cached(
        ("testbed", agents, runs, steps, nonstationary, seed),
        lambda: run_testbed(
            list(agents), runs=runs, steps=steps, seed=seed, nonstationary=nonstationary, on_update=on_update
        ),
    )


def _contextual(agents: tuple[str, ...], runs: int, steps: int, seed: int, on_update) -> dict:
    return _cached(
        ("contextual", agents, runs, steps, seed),
        lambda: run_contextual(list(agents), runs=runs, steps=steps, seed=seed, on_update=on_update),
    )


def _figure(rows: list[tuple[str, str]], curves: dict, height: int = 520, smooth: dict | None = None) -> go.Figure:
    smooth = smooth or {}
    fig = make_subplots(
        rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=[title for title, _ in rows]
    )
    for index, (label, curve) in enumerate(curves.items()):
        color = PALETTE[index % len(PALETTE)]
        for row, (_, attribute) in enumerate(rows, start=1):
            y = getattr(curve, attribute)
            if attribute in smooth:
                y = np.convolve(y, np.ones(smooth[attribute]) / smooth[attribute], mode="valid")
            fig.add_trace(
                go.Scatter(
                    y=y,
                    mode="lines",
                    name=AGENT_NAMES.get(label, label),
                    line={"color": color, "width": 1.6},
                    showlegend=row == 1,
                    legendgroup=label,
                ),
                row=row,
                col=1,
            )
    fig.update_xaxes(title_text="step", row=len(rows), col=1)
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.12}
    )
    return fig


def bandit_testbed(params: BanditTestbedParams, key: str) -> None:
    options = [a for a in AGENT_NAMES if a not in ("linucb", "lints")]
    agents = st.pills(
        "Agents",
        options,
        default=list(params.agents),
        selection_mode="multi",
        format_func=AGENT_NAMES.get,
        key=f"{key}-agents",
    )
    left, right = st.columns(2)
    runs = left.select_slider("Runs averaged", [100, 200, 500, 1000, 2000], value=params.runs, key=f"{key}-runs")
    nonstationary = right.toggle(
        "Non-stationary arms (random walk)",
        value=params.nonstationary,
        key=f"{key}-ns",
        help="Exercise 2.5: every q*(a) drifts by N(0, 0.01²) per step.",
    )
    if not agents:
        st.info("Pick at least one agent.", icon=":material/touch_app:")
        return
    bar = st.progress(0.0, text="Running the testbed…")
    curves = _testbed(
        tuple(agents),
        runs,
        params.steps,
        nonstationary,
        params.seed,
        on_update=_progress_callback(bar, "Running the testbed…"),
    )
    bar.empty()
    chart(
        _figure(
            [("Average reward", "avg_reward"), ("% optimal action", "optimal_pct"), ("Cumulative regret", "regret")],
            curves,
            height=640,
        ),
        key=f"{key}-chart",
        config={"displayModeBar": False},
    )
    seconds = sum(c.seconds for c in curves.values())
    st.caption(
        f"{counted(len(agents), 'agent')} × {runs} runs × {params.steps} steps in {seconds:.2f} s, "
        "by algorithms/bandits.py."
    )


def contextual_bandits(params: ContextualBanditParams, key: str) -> None:
    options = ["linucb", "lints", "eps:0.1", "random"]
    agents = st.pills(
        "Agents",
        options,
        default=list(params.agents),
        selection_mode="multi",
        format_func=AGENT_NAMES.get,
        key=f"{key}-agents",
    )
    if not agents:
        st.info("Pick at least one agent.", icon=":material/touch_app:")
        return
    bar = st.progress(0.0, text="Simulating users…")
    curves = _contextual(
        tuple(agents), params.runs, params.steps, params.seed, on_update=_progress_callback(bar, "Simulating users…")
    )
    bar.empty()
    chart(
        _figure(
            [("Cumulative regret (expected clicks lost)", "regret"), ("Click rate (50-step average)", "avg_reward")],
            curves,
            smooth={"avg_reward": 50},
        ),
        key=f"{key}-chart",
        config={"displayModeBar": False},
    )
