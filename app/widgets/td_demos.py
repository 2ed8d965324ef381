"""Demos on tabular TD control: Sarsa versus Q-learning on the cliff, and reward design on the dosing patient."""

from __future__ import annotations

import threading

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app.content.demos import CliffWalkingParams, DosingRewardsParams
from app.widgets.charts import chart
from app.words import counted

COLORS = {"sarsa": "#2e86ab", "q-learning": "#e4572e", "expected-sarsa": "#3bb273"}
NAMES = {"sarsa": "Sarsa", "q-learning": "Q-learning", "expected-sarsa": "Expected Sarsa"}
ROWS, COLS = 4, 12  # CliffWalking-v1: start (3, 0), goal (3, 11), cliff (3, 1..10)

# Which settings this server process has already trained (st.cache_data holds the results): those are
# drawn at once, for every learner. Settings nobody has trained yet wait for a button press, so the
# lesson's first render does not spend seconds training before the learner has read a line of it.
_TRAINED: set[tuple] = set()
_TRAINED_LOCK = threading.Lock()


def _trained(key: tuple) -> bool:
    with _TRAINED_LOCK:
        return key in _TRAINED


def _mark_trained(key: tuple) -> None:
    with _TRAINED_LOCK:
        _TRAINED.add(key)


def train_on_press(keys: list[tuple], key: str, what: str) -> bool:
    """True when these settings may be computed now: already trained on this server, or the learner
    has pressed the button once in this session (later setting changes then retrain at once)."""
    if st.session_state.get(f"{key}-pressed") or all(_trained(k) for k in keys):
        return True
    prompt = st.empty()  # the invitation goes once pressed: the charts take its place in the same run
    with prompt.container():
        st.info(f"{what} Press the button to train them; the charts appear here.", icon=":material/model_training:")
        pressed = st.button("Train the agents", type="primary", icon=":material/play_arrow:", key=f"{key}-train")
    if pressed:
        st.session_state[f"{key}-pressed"] = True
        prompt.empty()
        return True
    return False


@st.cache_data(show_spinner=False, max_entries=32)
def cliff_runs(algo: str, episodes: int, runs: int, alpha: float, epsilon: float, seed: int):
    from algorithms.tabular import greedy_episode, make_env, make_model, td_control  # gymnasium: when trained

    env = make_env("cliff-walking")
    result = td_control(make_model(env), algo, episodes, runs=runs, alpha=alpha, gamma=1.0, epsilon=epsilon, seed=seed)
    observations, _, terminated = greedy_episode(env, result.Q.mean(axis=0), max_steps=200)
    return result.episode_returns.mean(axis=1), [int(o) for o in observations], terminated


def smooth(x: np.ndarray, window: int = 10) -> np.ndarray:
    if len(x) < window:
        return x
    kernel = np.ones(window) / window
    return np.convolve(x, kernel, mode="valid")


def cliff_grid(paths: dict[str, list[int]]) -> go.Figure:
    fig = go.Figure()
    z = np.zeros((ROWS, COLS))
    z[3, 1:11] = 1
    fig.add_trace(
        go.Heatmap(z=z, colorscale=[[0, "#f5f6f8"], [1, "#55585e"]], showscale=False, xgap=2, ygap=2, hoverinfo="skip")
    )
    for algo, states in paths.items():
        rows, cols = np.divmod(np.array(states), COLS)
        offset = {"sarsa": -0.12, "q-learning": 0.12, "expected-sarsa": 0.0}[algo]
        fig.add_trace(
            go.Scatter(
                x=cols,
                y=rows + offset,
                mode="lines+markers",
                name=f"{NAMES[algo]} ({len(states) - 1} steps)",
                line={"color": COLORS[algo], "width": 3},
                marker={"size": 5},
            )
        )
    fig.add_annotation(x=0, y=3, text="S", showarrow=False, font={"size": 16})
    fig.add_annotation(x=11, y=3, text="G", showarrow=False, font={"size": 16})
    fig.add_annotation(x=5.5, y=3, text="the cliff: −100 and back to S", showarrow=False, font={"color": "white"})
    fig.update_layout(
        height=280,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title="Greedy paths after learning",
        xaxis={"visible": False},
        yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x"},
        legend={"orientation": "h", "y": -0.05},
    )
    return fig


def cliff_walking(params: CliffWalkingParams, key: str) -> None:
    c1, c2, c3 = st.columns(3)
    epsilon = c1.slider("Exploration ε", 0.0, 0.5, params.epsilon, 0.01, key=f"{key}-eps")
    alpha = c2.slider("Step size α", 0.05, 1.0, params.alpha, 0.05, key=f"{key}-alpha")
    algos = c3.pills(
        "Algorithms",
        list(NAMES),
        default=list(params.algorithms),
        selection_mode="multi",
        format_func=NAMES.get,
        key=f"{key}-algos",
    )
    if not algos:
        st.info("Pick at least one algorithm.", icon=":material/touch_app:")
        return
    keys = [(a, params.episodes, params.runs, alpha, epsilon, params.seed) for a in algos]
    agents = counted(len(algos), "agent")
    what = f"Training {agents}, {params.runs} runs × {params.episodes} episodes, takes a few seconds."
    if not train_on_press(keys, key, what):
        return
    with st.spinner(f"Training {agents}, {params.runs} runs × {params.episodes} episodes…"):
        results = {k[0]: cliff_runs(*k) for k in keys}
    for k in keys:
        _mark_trained(k)

    fig = go.Figure()
    for algo, (returns, _, _) in results.items():
        fig.add_trace(go.Scatter(y=smooth(returns), mode="lines", name=NAMES[algo], line={"color": COLORS[algo]}))
    fig.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        yaxis_range=[-120, 0],
        title=f"Sum of rewards per episode (mean of {params.runs} runs, 10-episode average)",
        xaxis_title="episode",
        legend={"orientation": "h", "y": -0.2},
    )
    chart(fig, key=f"{key}-curves", config={"displayModeBar": False})
    chart(
        cliff_grid({a: r[1] for a, r in results.items() if r[2]}), key=f"{key}-grid", config={"displayModeBar": False}
    )
    columns = st.columns(len(results))
    for column, (algo, (returns, states, done)) in zip(columns, results.items(), strict=True):
        column.metric(
            f"{NAMES[algo]}: last 100 episodes",
            f"{returns[-100:].mean():.1f}",
            help="Average online reward, exploration included: what the agent earned while learning.",
        )
        column.caption(f"greedy path: {len(states) - 1} steps" if done else "greedy path does not reach the goal")


@st.cache_data(show_spinner=False, max_entries=8)
def dosing_comparison(seed: int):
    from algorithms.dosing_experiment import compare_rewards  # when trained, not when the lesson is drawn

    return compare_rewards(seed=seed)


def dosing_rewards(params: DosingRewardsParams, key: str) -> None:
    what = "Two Q-learning agents, one per reward, learn to dose simulated patients: a few seconds of training."
    if not train_on_press([("dosing", params.seed)], key, what):
        return
    with st.spinner("Training two Q-learning agents on simulated patients (a few seconds the first time)…"):
        results = dosing_comparison(params.seed)
    _mark_trained(("dosing", params.seed))
    good, bad, random = results["good"], results["bad"], results["random"]

    columns = st.columns(3)
    for column, (title, evaluation) in zip(
        columns,
        [("Good reward", good.evaluation), ("'Survive today' reward", bad.evaluation), ("Random dosing", random)],
        strict=True,
    ):
        column.metric(f"{title}: days in range", f"{evaluation.fraction_in_range:.0%}")
        column.caption(f"bleeding in {evaluation.bleeding_rate:.1%} of 30-day courses")

    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.08,
        specs=[[{"secondary_y": True}, {"secondary_y": True}]],
        subplot_titles=("Trained on the good reward", "Trained on 'survive today'"),
    )
    for col, result in ((1, good), (2, bad)):
        days = np.arange(1, len(result.example_inr) + 1)
        for level, fill in ((2.0, None), (3.0, "tonexty")):  # the therapeutic band, INR 2 to 3
            fig.add_trace(
                go.Scatter(
                    x=[0.5, len(days) + 0.5],
                    y=[level, level],
                    mode="lines",
                    fill=fill,
                    hoverinfo="skip",
                    line={"width": 0},
                    fillcolor="rgba(59,178,115,0.18)",
                    showlegend=False,
                ),
                row=1,
                col=col,
                secondary_y=False,
            )
        fig.add_trace(
            go.Scatter(
                x=days,
                y=result.example_inr,
                mode="lines+markers",
                name="INR",
                line={"color": "#e4572e"},
                showlegend=col == 1,
            ),
            row=1,
            col=col,
            secondary_y=False,
        )
        fig.add_trace(
            go.Scatter(
                x=days,
                y=result.example_dose_mg,
                mode="lines",
                line_shape="hv",
                name="dose (mg, right axis)",
                line={"color": "#9aa0a6", "dash": "dot"},
                showlegend=col == 1,
            ),
            row=1,
            col=col,
            secondary_y=True,
        )
    dose_max = max(float(np.max(good.example_dose_mg)), float(np.max(bad.example_dose_mg)), 1.0)
    fig.update_yaxes(range=[0, 5], title_text="INR", secondary_y=False, row=1, col=1)
    fig.update_yaxes(range=[0, 5], secondary_y=False, row=1, col=2)
    fig.update_yaxes(range=[0, dose_max * 1.1], showgrid=False, secondary_y=True)
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.2})
    fig.update_xaxes(title_text="day")
    chart(fig, key=f"{key}-patients", config={"displayModeBar": False})
    st.caption(
        "One new patient under each learned policy. The green band is the therapeutic range, INR 2 to 3. "
        "The 'survive today' agent collects almost +1 every day by never dosing: its reward cannot see "
        "what matters."
    )
