"""RLHF side by side: start two (or three) runs of the LM pipeline and watch them diverge.

The lesson on PPO sets a run with the KL penalty beside one without it: the reward model's score
climbs in both, while the hidden human's score climbs in one and collapses in the other. The DPO
lesson sets two betas side by side the same way. Each run is an ordinary live run (its own
process, listed on the Runs page); the run ids sit in the URL so a reload finds them again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app.content.demos import RlhfCompareParams
from app.runs.configs import ConfigError
from app.runs.store import ACTIVE, FAILED, QUEUED, RunRecord
from app.widgets.charts import chart
from app.widgets.runs import STATUS_ICONS, downsample, format_seconds, metric_frame, run_manager, session_id

COLOURS = ["#2e86ab", "#e4572e", "#6a994e"]
METRIC_TITLES = {
    "charts/reward_model_score": "Reward model's score (normalised)",
    "charts/hidden_score": "Hidden human's score",
    "charts/kl": "KL to the reference (nats per review)",
    "charts/well_formed": "Share of well-formed reviews",
    "charts/length": "Review length (tokens)",
    "charts/beta": "beta",
    "charts/reward_margin": "Implicit reward margin (chosen - rejected)",
    "charts/preference_accuracy": "Preference accuracy on the batch",
    "losses/dpo": "DPO loss",
    "losses/kto": "KTO loss",
}
STAGE_NAMES = {
    "sft": "supervised fine-tuning",
    "preferences": "sampling and labelling preference pairs",
    "reward_model": "training the reward model",
}


def _describe(spec) -> str:
    beta = "the preset's beta" if spec.beta is None else f"beta = {spec.beta:g}"
    return f"**{spec.label}**: {spec.stage.replace('_', ' ').upper().replace('NO KL', 'without KL')}, {beta}"


def rlhf_compare(params: RlhfCompareParams, key: str) -> None:
    manager = run_manager()
    query = f"rlhf-{key}"
    ids = [i for i in st.query_params.get(query, "").split(",") if i]
    records = [manager.get(i) for i in ids]
    if not ids or len(ids) != len(params.runs) or any(r is None for r in records):
        _start_form(params, key, query)
        return

    @st.fragment(run_every=1.0 if any(r.status in ACTIVE for r in records) else None)
    def live() -> None:
        current = [manager.get(i) for i in ids]
        for spec, record, colour in zip(params.runs, current, COLOURS, strict=False):
            _status(spec, record, colour)
        frames = [metric_frame(r.id) for r in current]
        _charts(params, current, frames, key)
        _samples(params, current)
        if all(r.status not in ACTIVE for r in current):
            _final_table(params, current)
            if any(r.status in ACTIVE for r in records):
                st.rerun()

    live()
    if st.button("Start over", key=f"{key}-again", icon=":material/restart_alt:"):
        for run_id in ids:
            record = manager.get(run_id)
            if record and record.status in ACTIVE:
                manager.stop_in_background(run_id)
        del st.query_params[query]
        st.rerun()


def _start_form(params: RlhfCompareParams, key: str, query: str) -> None:
    with st.container(border=True):
        st.markdown("\n".join(f"- {_describe(spec)}" for spec in params.runs))
        st.caption(
            "Each run fine-tunes the same SFT model. The first run also trains the SFT model, samples "
            "preference pairs and trains the reward model (a few minutes on a CPU), and caches them for "
            "every later run. Runs take turns when the machine has room for one at a time."
        )
        if st.button(
            f"Start the {len(params.runs)} runs", key=f"{key}-start", icon=":material/play_arrow:", type="primary"
        ):
            try:
                ids = [
                    run_manager().start(
                        "rlhf",
                        {
                            "stage": spec.stage,
                            "beta": spec.beta,
                            "preset": params.preset,
                            "iterations": spec.iterations,
                        },
                        session=session_id(),
                        label=spec.label,
                    )
                    for spec in params.runs
                ]
            except (ConfigError, KeyError, ValueError) as exc:
                st.error(f"Could not start the runs: {exc}", icon=":material/error:")
                return
            st.query_params[query] = ",".join(ids)
            st.rerun()


def _current_stage(frame: pd.DataFrame) -> str | None:
    stages = [c for c in frame.columns if c.startswith("stages/")]
    if frame.empty or not stages:
        return None
    last = frame[stages].iloc[-1]
    return last.last_valid_index().split("/", 1)[1] if last.notna().any() else None


def _status(spec, record: RunRecord, colour: str) -> None:
    icon = STATUS_ICONS.get(record.status, "")
    line = f"{icon} <span style='color:{colour}'>■</span> {_describe(spec)} · run `{record.id}` · {record.status}"
    if record.status in ACTIVE:
        line += f" · {format_seconds(record.duration)} elapsed"
        if record.eta:
            line += f", about {format_seconds(record.eta)} left"
    st.markdown(line, unsafe_allow_html=True)
    if record.status == QUEUED:
        st.caption("Waiting for the run before it to finish.")
    elif record.status in ACTIVE:
        stage = _current_stage(metric_frame(record.id))
        text = STAGE_NAMES.get(stage or "", "training") if stage else "starting"
        st.progress(record.progress, text=f"{record.progress:.0%} · {text}")
    elif record.status == FAILED:
        st.error(f"The run failed: {record.error}", icon=":material/error:")


def _charts(params: RlhfCompareParams, records: list[RunRecord], frames: list[pd.DataFrame], key: str) -> None:
    shown = [m for m in params.metrics if any(m in f for f in frames)]
    if not shown:
        st.caption("Charts appear when the runs reach their own stage (after the shared SFT and reward model).")
        return
    columns = st.columns(2)
    for index, metric in enumerate(shown):
        fig = go.Figure()
        for spec, frame, colour in zip(params.runs, frames, COLOURS, strict=False):
            if metric not in frame:
                continue
            data = downsample(frame[["global_step", metric]].dropna().reset_index(drop=True))
            fig.add_trace(
                go.Scatter(x=data.index + 1, y=data[metric], mode="lines", name=spec.label, line={"color": colour})
            )
        fig.update_layout(
            title=METRIC_TITLES.get(metric, metric),
            height=250,
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
            xaxis_title="update",
            showlegend=index == 0,
            legend={"orientation": "h", "y": -0.3},
        )
        with columns[index % 2]:
            chart(fig, key=f"{key}-{metric}", config={"displayModeBar": False})


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _samples(params: RlhfCompareParams, records: list[RunRecord]) -> None:
    columns = st.columns(len(records))
    for column, spec, record in zip(columns, params.runs, records, strict=False):
        samples = _read_json(run_manager().store.run_dir(record.id) / "samples.json")
        with column:
            st.markdown(f"**{spec.label}**: latest samples")
            if not samples:
                st.caption("No samples yet.")
                continue
            for s in samples[:4]:
                badge = "✅" if s["well_formed"] else "⚠️ malformed"
                st.markdown(
                    f"`{s['text']}`  \n<small>hidden score {s['score']:+.0f} · {badge}</small>", unsafe_allow_html=True
                )


def _final_table(params: RlhfCompareParams, records: list[RunRecord]) -> None:
    rows = []
    for spec, record in zip(params.runs, records, strict=False):
        m = record.final_metrics
        if not m:
            continue
        rows.append(
            {
                "run": spec.label,
                "reward-model score": m.get("reward_model_score"),
                "hidden score": m.get("hidden_score"),
                "win rate vs SFT": m.get("win_rate_vs_sft"),
                "KL (nats)": m.get("kl"),
                "well-formed": m.get("well_formed"),
                "ended": m.get("ended"),
            }
        )
    if rows:
        st.markdown("**Evaluated on fresh prompts** (the hidden human compares each sample with the SFT model's)")
        st.dataframe(pd.DataFrame(rows).set_index("run"), width="stretch")
