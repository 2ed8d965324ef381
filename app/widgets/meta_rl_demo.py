"""RL² on bandit tasks: the recorded regret curves at once, and a fresh training run on a button press."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from algorithms.meta_rl import MetaBanditConfig, run_experiment
from app.content.demos import MetaRlBanditParams
from app.widgets.charts import chart

RECORDED = Path(__file__).resolve().parents[2] / "lessons" / "data" / "rl2-bandits.json"
NAMES = {"rl2": "RL² (trained GRU)", "thompson": "Thompson sampling", "ucb1": "UCB1", "random": "random"}
COLORS = {"rl2": "#e4572e", "thompson": "#2e86ab", "ucb1": "#3bb273", "random": "#9aa0a6"}
DISTRIBUTIONS = {
    "independent": "independent arms, p(a) ~ U(0, 1)",
    "dependent": "dependent arms, p(1) = 1 − p(0)",
}


@st.cache_data(show_spinner=False, max_entries=4)
def load_recorded() -> dict[str, Any]:
    return json.loads(RECORDED.read_text(encoding="utf-8"))


@st.cache_data(show_spinner=False, max_entries=16)
def _train(distribution: str, updates: int, seed: int, eval_tasks: int) -> dict[str, Any]:
    config = MetaBanditConfig(task_distribution=distribution, updates=updates, seed=seed, eval_tasks=eval_tasks)
    return run_experiment(config)


def regret_figure(result: dict[str, Any], title: str) -> go.Figure:
    fig = go.Figure()
    for name in ("random", "ucb1", "thompson", "rl2"):
        curve = result["regret_curve"].get(name)
        if curve is None:
            continue
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(curve) + 1)),
                y=curve,
                mode="lines",
                name=NAMES[name],
                line={"color": COLORS[name], "width": 3 if name == "rl2" else 2},
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title="pull t within the trial",
        yaxis_title="mean cumulative regret",
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def _summary(result: dict[str, Any]) -> str:
    regret, stderr = result["regret"], result.get("regret_stderr", {})
    parts = []
    for name in ("rl2", "thompson", "ucb1", "random"):
        if name in regret:
            spread = f" ± {stderr[name]:.2f}" if name in stderr else ""
            parts.append(f"{NAMES[name]}: {regret[name]:.2f}{spread}")
    return " · ".join(parts)


def meta_rl_bandits(params: MetaRlBanditParams, key: str) -> None:
    distribution = st.radio(
        "Task distribution",
        list(DISTRIBUTIONS),
        index=list(DISTRIBUTIONS).index(params.task_distribution),
        format_func=DISTRIBUTIONS.get,
        horizontal=True,
        key=f"{key}-distribution",
    )
    try:
        recorded = load_recorded()
        run = recorded["runs"][distribution]
    except (OSError, KeyError, json.JSONDecodeError) as error:
        st.error(f"The recorded runs cannot be read: {error}", icon=":material/error:")
    else:
        horizon = run["config"]["horizon"]
        chart(
            regret_figure(run, f"Recorded: regret over {horizon} pulls, {run['config']['eval_tasks']} fresh tasks"),
            key=f"{key}-recorded",
            config={"displayModeBar": False},
        )
        st.caption(
            f"Regret after {horizon} pulls (± standard error): {_summary(run)}. RL² trained for "
            f"{run['config']['updates']} updates of {run['config']['tasks_per_update']} tasks. "
            f"{recorded.get('description', '')} Recorded with `{run['command']}`."
        )

    st.markdown("**Train it yourself.** The same code, on this server, with your settings.")
    left, right = st.columns(2)
    updates = left.slider("Updates (A2C steps)", 50, 1500, params.updates, 50, key=f"{key}-updates")
    seed = int(right.number_input("Seed", 0, 1000, params.seed, key=f"{key}-seed"))
    settings = (distribution, updates, seed, params.eval_tasks)
    pressed = st.button("Train RL²", type="primary", icon=":material/play_arrow:", key=f"{key}-train")
    if pressed:
        st.session_state[f"{key}-settings"] = settings
    elif st.session_state.get(f"{key}-settings") != settings:
        st.caption(
            f"{updates} updates take about {updates * 0.08:.0f} s of CPU on an idle core; the chart appears here."
        )
        return
    with st.spinner(f"Training RL² for {updates} updates…"):
        result = _train(*settings)
    chart(
        regret_figure(result, f"Your run: {updates} updates, seed {seed}"),
        key=f"{key}-live",
        config={"displayModeBar": False},
    )
    st.caption(
        f"Regret after {result['config']['horizon']} pulls on {params.eval_tasks} fresh tasks: {_summary(result)}. "
        f"Trained in {result['train_seconds']:.1f} s."
    )
