"""A seed group on the Runs page (/runs?group=ID): one configuration started on several seeds.

Each seed's status and progress, the per-seed learning curves overlaid and, once two or more have
finished, the interquartile mean (IQM) of their final returns with its 95% stratified bootstrap
interval (Agarwal et al. 2021), computed by `algorithms.evaluation.summarize`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app.runs.store import ACTIVE, FAILED, FINISHED, QUEUED, RunRecord
from app.widgets.charts import chart
from app.widgets.runs import STATUS_ICONS, compare_chart, run_manager

BOOTSTRAP_REPS = 2000
SCORES = (
    ("eval_return_mean", "eval return", "the greedy evaluation of each seed's final policy"),
    ("mean_return_last_100", "mean return of the last 100 episodes", "each seed's last 100 training episodes"),
)
"""The final metric a group is scored by: the first that every finished seed reports as a number."""
CURVES = ("charts/episodic_return_mean100", "charts/episodic_return")


def seed_of(record: RunRecord) -> int | None:
    seed = record.config.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def group_scores(records: list[RunRecord]) -> tuple[tuple[str, str, str] | None, dict[str, float]]:
    """The score metric (key, name, what it measures) and each finished run's score, by run id;
    (None, {}) when no metric is reported by every finished run."""
    finished = [r for r in records if r.status == FINISHED]
    for metric in SCORES:
        values = {r.id: r.final_metrics.get(metric[0]) for r in finished}
        numbers = {k: float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        if finished and len(numbers) == len(finished) and all(np.isfinite(list(numbers.values()))):
            return metric, numbers
    return None, {}


def iqm_figure(summary: dict[str, Any], scores: list[float], algorithm: str, score_name: str) -> go.Figure:
    """The IQM as a point with its interval as a bar, each seed's score beside it."""
    iqm = summary["iqm"]
    pct = round(100 * summary["size"])
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=scores,
            y=["each seed"] * len(scores),
            mode="markers",
            name="each seed",
            marker={"size": 9, "symbol": "circle-open", "color": "#636efa"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[iqm["point"]],
            y=["IQM"],
            mode="markers",
            name=f"IQM with its {pct}% interval",
            marker={"size": 13, "color": "#d62728"},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [iqm["upper"] - iqm["point"]],
                "arrayminus": [iqm["point"] - iqm["lower"]],
                "thickness": 3,
                "width": 10,
            },
        )
    )
    fig.update_layout(
        title=f"{algorithm}: IQM of the {score_name} over {len(scores)} seeds, {pct}% bootstrap interval",
        height=240,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        xaxis_title=score_name,
        yaxis_title="",
        showlegend=False,
    )
    return fig


def _seed_row(record: RunRecord) -> None:
    seed = seed_of(record)
    name = f"seed {seed}" if seed is not None else f"run {record.id}"
    left, middle, right = st.columns([2, 4, 1], vertical_alignment="center")
    with left:
        st.markdown(f"{STATUS_ICONS.get(record.status, '')} **{name}** · {record.status}")
    with middle:
        if record.status == FAILED:
            first = (record.error or "no reason was recorded").strip().splitlines()[0]
            st.caption(f":red[failed: {first}]")
        elif record.status == QUEUED:
            st.caption("waiting for a free slot")
        else:
            st.progress(min(1.0, max(0.0, record.progress)), text=f"{record.progress:.0%}")
    with right:
        st.page_link("views/runs.py", label="Open", icon=":material/open_in_new:", query_params={"run": record.id})


def _scores_section(records: list[RunRecord], key: str) -> None:
    finished = [r for r in records if r.status == FINISHED]
    if len(finished) < 2:
        st.info(
            f"The IQM of the seeds' returns and its interval appear once at least 2 seeds have finished "
            f"({len(finished)} so far).",
            icon=":material/hourglass_top:",
        )
        return
    metric, scores = group_scores(records)
    if metric is None:
        st.info("These runs report no final return to compare, so there is no IQM to show.", icon=":material/info:")
        return
    from algorithms.evaluation import summarize

    values = [scores[r.id] for r in finished]
    summary = summarize(np.asarray(values)[:, None], reps=BOOTSTRAP_REPS)
    iqm = summary["iqm"]
    key_name, score_name, measured = metric
    few = " (with fewer than 4 seeds a quarter is less than one seed: nothing is dropped, it is the mean)"
    few = few if len(values) < 4 else ""
    st.markdown(
        f"**IQM of the {score_name}: {iqm['point']:.2f}** "
        f"(95% bootstrap interval {iqm['lower']:.2f} to {iqm['upper']:.2f}; {len(values)} finished seeds)"
    )
    chart(
        iqm_figure(summary, values, records[0].algorithm, score_name),
        key=f"{key}-iqm",
        config={"displayModeBar": False},
    )
    st.caption(
        f"Score: `{key_name}`, {measured}. The **IQM** (interquartile mean) sorts the seeds' scores, drops the "
        "lowest and highest quarter and averages the middle half: one lucky or unlucky seed moves it less "
        f"than the mean{few}. The **interval** resamples the seeds with replacement "
        f"{BOOTSTRAP_REPS:,} times (a stratified bootstrap) and keeps the middle 95% of the IQMs: how much the "
        "result could move with other seeds. More seeds narrow it; below about 5 it understates the "
        "uncertainty, since it can only reshuffle the scores you have (Agarwal et al. 2021; the lesson "
        "*Beyond one run*)."
    )


def group_monitor(group_id: str, key: str = "group") -> None:
    """The group's seeds, their IQM and their curves; polls once a second while any is active."""
    manager = run_manager()
    records = manager.store.list(group=group_id)
    if not records:
        st.info(
            f"There are no runs in the seed group `{group_id}`: they were deleted, or the address is not one "
            "this page gave. Start a new group from **Start a new run** on the Runs page.",
            icon=":material/search_off:",
        )
        return
    active = any(r.status in ACTIVE for r in records)

    @st.fragment(run_every=1.0 if active else None)
    def live() -> None:
        current = sorted(manager.store.list(group=group_id), key=lambda r: (seed_of(r) is None, seed_of(r) or 0, r.id))
        if not current:
            st.info(f"The runs of the seed group `{group_id}` were deleted.", icon=":material/search_off:")
            return
        counts = {
            status: sum(r.status == status for r in current) for status in dict.fromkeys(r.status for r in current)
        }
        st.markdown(f"#### Seed group `{group_id}` · {current[0].algorithm} · {len(current)} seeds")
        st.caption(" · ".join(f"{n} {status}" for status, n in counts.items()))
        for record in current:
            _seed_row(record)
        if any(r.status in ACTIVE for r in current) and st.button(
            "Stop all", key=f"{key}-stop-{group_id}", icon=":material/stop:"
        ):
            for record in current:
                if record.status in ACTIVE:
                    manager.stop_in_background(record.id)
            st.toast("Stopping the group's runs…")
        _scores_section(current, key=f"{key}-{group_id}")
        frame_runs = [r.id for r in current if r.status != QUEUED]
        if frame_runs:
            fig = compare_chart(frame_runs, _curve_metric(frame_runs))
            fig.update_layout(title=f"Learning curves of the seeds ({fig.layout.title.text})")
            chart(fig, key=f"{key}-{group_id}-curves")
        if active and not any(r.status in ACTIVE for r in current):
            st.rerun()  # the last seed just ended: redraw the page without the poll

    live()


def _curve_metric(run_ids: list[str]) -> str:
    """The smoothed return when the runs log it, else the raw episodic return."""
    from app.widgets.runs import metric_frame

    frame = metric_frame(run_ids[0])
    return next((m for m in CURVES if m in frame), CURVES[-1])
