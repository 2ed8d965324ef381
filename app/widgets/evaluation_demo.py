"""Evaluating over seeds: our recorded runs, their IQM with a stratified bootstrap interval, and profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from algorithms.evaluation import bootstrap_interval, probability_of_improvement, profile_with_interval
from app.content.demos import SeedEvaluationParams
from app.widgets.charts import chart

DATA = Path(__file__).resolve().parents[2] / "lessons" / "data"
PALETTE = ["#2e86ab", "#e4572e", "#3bb273", "#7768ae"]


def results_path(name: str) -> Path:
    return DATA / f"{name}-seeds.json"


@st.cache_data(show_spinner=False, max_entries=4)
def load_results(name: str) -> dict[str, Any]:
    return json.loads(results_path(name).read_text(encoding="utf-8"))


@st.cache_data(show_spinner=False, max_entries=64)
def _estimates(scores: tuple[float, ...], reps: int, top: float) -> dict[str, Any]:
    point, lower, upper = bootstrap_interval(np.array(scores), "iqm", reps=reps)
    mean = float(np.mean(scores))
    profile = profile_with_interval(np.array(scores), np.linspace(0.0, top, 51), reps=reps)
    return {"iqm": (float(point), float(lower), float(upper)), "mean": mean, "profile": profile}


def seed_evaluation(params: SeedEvaluationParams, key: str) -> None:
    try:
        data = load_results(params.results)
    except (OSError, json.JSONDecodeError) as error:
        st.error(f"The recorded runs '{params.results}' cannot be read: {error}", icon=":material/error:")
        return
    groups: dict[str, list[float]] = {name: g["scores"] for name, g in data["groups"].items()}
    most = min(len(s) for s in groups.values())
    n = st.slider("Seeds used (the first n recorded)", 3, most, min(params.seeds, most), key=f"{key}-n")
    top = float(data.get("max_score", max(max(s) for s in groups.values())))
    estimates = {name: _estimates(tuple(scores[:n]), params.reps, top) for name, scores in groups.items()}

    columns = st.columns(len(groups) + 1)
    for column, (name, found) in zip(columns, estimates.items(), strict=False):
        point, lower, upper = found["iqm"]
        column.metric(f"IQM, {name}", f"{point:.0f}", help=f"95% interval {lower:.0f} to {upper:.0f}")
        column.caption(f"95% CI [{lower:.0f}, {upper:.0f}], mean {found['mean']:.0f}")
    names = list(groups)
    if len(names) == 2:
        p = probability_of_improvement(groups[names[0]][:n], groups[names[1]][:n])
        columns[-1].metric(f"P({names[0]} > {names[1]})", f"{p:.2f}")

    left, right = st.columns(2)
    with left:
        fig = go.Figure()
        for i, (name, scores) in enumerate(groups.items()):
            color = PALETTE[i % len(PALETTE)]
            point, lower, upper = estimates[name]["iqm"]
            fig.add_trace(
                go.Scatter(
                    x=scores[:n],
                    y=[name] * n,
                    mode="markers",
                    name=f"{name}: one seed each",
                    marker={"color": color, "opacity": 0.45, "size": 9},
                    hovertemplate="score %{x:.1f}<extra></extra>",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=[point],
                    y=[name],
                    mode="markers",
                    name=f"{name}: IQM with 95% CI",
                    marker={"color": color, "size": 14, "symbol": "diamond", "line": {"color": "#1f2430", "width": 1}},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": [upper - point],
                        "arrayminus": [point - lower],
                    },
                    hovertemplate="IQM %{x:.1f}<extra></extra>",
                )
            )
        fig.update_layout(
            title=f"Final scores over {n} seeds, and the IQM",
            xaxis_title=data.get("metric_label", data.get("metric", "score")),
            yaxis_title="",
            height=320,
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
            legend={"orientation": "h", "y": -0.3},
        )
        chart(fig, key=f"{key}-scores", config={"displayModeBar": False})
    with right:
        fig = go.Figure()
        for i, (name, found) in enumerate(estimates.items()):
            color = PALETTE[i % len(PALETTE)]
            profile = found["profile"]
            fig.add_trace(
                go.Scatter(
                    x=profile["tau"] + profile["tau"][::-1],
                    y=profile["upper"] + profile["lower"][::-1],
                    fill="toself",
                    fillcolor=color,
                    opacity=0.15,
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    name=f"{name}: 95% band",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=profile["tau"],
                    y=profile["fraction"],
                    mode="lines",
                    name=name,
                    line={"color": color, "shape": "hv"},
                )
            )
        fig.update_layout(
            title="Performance profile: fraction of runs scoring above τ",
            xaxis_title="threshold τ",
            yaxis_title="fraction of runs > τ",
            yaxis_range=[0, 1.02],
            height=320,
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
            legend={"orientation": "h", "y": -0.3},
        )
        chart(fig, key=f"{key}-profile", config={"displayModeBar": False})
    st.caption(
        f"{data.get('description', '')} Recorded with `{data.get('command', '')}`. "
        "Fewer seeds, wider intervals: slide n down to 3 and watch them open."
    )
