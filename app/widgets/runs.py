"""Start a run from a form generated from its config dataclass; watch it live; stop it; compare runs."""

from __future__ import annotations

import json
import time
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from algorithms import load
from algorithms.contract import LATEST_FILE, config_fields
from app.runs.configs import ConfigError, environment_problem, preset_values, run_presets
from app.runs.status import (
    ACTIVE,
    FAILED,
    FINISHED,
    MAX_SEEDS,
    QUEUED,
    RUNNING,
    STOPPED,
    CapacityError,
    StoreUnavailable,
)
from app.widgets.charts import chart
from app.widgets.style import motion_safe_image

if TYPE_CHECKING:  # a lesson draws its run form without these: the database and pandas load on Start
    import pandas as pd
    import plotly.graph_objects as go

    from app.runs.manager import RunManager
    from app.runs.store import RunRecord

MAX_POINTS = 1500  # per curve on screen; longer runs are downsampled
SHORT_NAMES = {"charts/episodic_return": "return", "charts/episodic_return_mean100": "mean of last 100"}
STATUS_ICONS = {
    QUEUED: ":material/hourglass_top:",
    "starting": ":material/rocket_launch:",
    RUNNING: ":material/autorenew:",
    FINISHED: ":material/check_circle:",
    FAILED: ":material/error:",
    STOPPED: ":material/stop_circle:",
}
CHART_GROUPS = [
    ("Episodic return", ["charts/episodic_return", "charts/episodic_return_mean100"]),
    ("Losses", ["losses/policy", "losses/value"]),
    ("Entropy and KL", ["losses/entropy", "losses/approx_kl"]),
    ("Speed (steps per second)", ["charts/steps_per_second"]),
]


@st.cache_resource
def run_manager() -> RunManager:
    """One manager per server process: its reaper threads outlive the script runs."""
    from app.runs.backends import open_manager

    return open_manager()


def session_id() -> str:
    """Who owns the runs started here: the learner, or this browser until a name is given (the
    same in every tab, after a reload and on another day; they move to the learner with the name)."""
    from app.widgets.identity import learner_or_default

    return learner_or_default()


def usable_run_manager() -> RunManager | None:
    """The run manager, queued runs started where there is room; or None after saying in one line
    why runs cannot be used here (a read-only data folder, a bad RLDOJO_MAX_RUNS)."""
    try:
        manager = run_manager()
        manager.schedule()  # a probe that reads and writes, and picks up capacity freed while nobody looked
        return manager
    except (StoreUnavailable, CapacityError) as exc:  # a read-only data folder or database, a bad RLDOJO_MAX_RUNS
        st.error(f"Runs are not available: {exc}", icon=":material/error:")
        return None


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m {seconds % 60:02d}s"
    )


# --- the start form ---------------------------------------------------------------------------
def _editable(kind: Any) -> bool:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    return kind in (bool, int, float, str) or typing.get_origin(kind) in (typing.Literal, tuple)


def _input(field: dict[str, Any], key: str, value: Any) -> Any:
    name, kind, helptext = field["name"], field["type"], field["help"] or None
    label = name.replace("_", " ")
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType)
    if optional:
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    if typing.get_origin(kind) is typing.Literal:
        options = list(typing.get_args(kind))
        return st.selectbox(
            label, options, index=options.index(value) if value in options else 0, help=helptext, key=key
        )
    if kind is bool:
        return st.toggle(label, value=bool(value), help=helptext, key=key)
    if kind is int and not optional:
        return st.number_input(label, value=int(value), step=1, help=helptext, key=key)
    if kind is float and not optional:
        return st.number_input(label, value=float(value), format="%g", help=helptext, key=key)
    text = "" if value is None else (", ".join(map(str, value)) if isinstance(value, tuple) else str(value))
    return st.text_input(label, value=text, help=helptext, key=key)


def run_launcher(
    algorithm: str,
    key: str,
    preset: dict[str, Any] | None = None,
    main: list[str] | None = None,
    label: str | None = None,
    seeds: bool = False,
) -> Started | None:
    """A start form for `algorithm`; `main` fields are shown first, the rest under 'More settings'.
    Without a `preset` (the Runs page), a selectbox above the form offers the algorithm's named
    presets (app/runs/configs.py: Hopper, Humanoid) and fills the form from the one chosen.
    With `seeds` (and a config with a seed field) the form also asks on how many seeds to start it:
    more than one queues a seed group (RunManager.start_seeds).

    Returns what was started when the learner pressed Start: a run, or a seed group."""
    module, config_class, spec = load(algorithm)
    named = run_presets(algorithm) if preset is None else []
    if named:
        by_title = {p.name: p for p in named}
        choice = st.selectbox(
            "Preset",
            ["", *by_title],
            format_func=lambda name: by_title[name].title if name else "Defaults (edit any field below)",
            key=f"{key}-preset",
        )
        if choice:
            chosen = by_title[choice]
            problem = environment_problem(chosen.env_id)
            if problem:
                st.warning(f"This preset cannot run here. {problem}", icon=":material/block:")
                return None
            st.info(chosen.note, icon=":material/info:")
            preset = preset_values(chosen, module, cuda=_cuda())
            main = main or list(chosen.main)
            key = f"{key}-{choice}"  # fresh widgets, so they take the preset's values
    # Fields a form cannot edit (mappings, say) keep their defaults.
    fields = [f for f in config_fields(config_class) if _editable(f["type"])]
    preset = preset or {}
    main = main or [f["name"] for f in fields][:4]
    with st.form(key=f"{key}-form", border=True):
        st.markdown(f"**{spec.title}**: {spec.description}")
        values: dict[str, Any] = {}
        columns = st.columns(2)
        by_name = {f["name"]: f for f in fields}
        for index, field in enumerate(by_name[name] for name in main if name in by_name):
            with columns[index % 2]:
                values[field["name"]] = _input(
                    field, f"{key}-{field['name']}", preset.get(field["name"], field["default"])
                )
        rest = [f for f in fields if f["name"] not in main and f["name"] != "output_dir"]
        if rest:
            with st.expander("More settings"):
                for field in rest:
                    values[field["name"]] = _input(
                        field, f"{key}-{field['name']}", preset.get(field["name"], field["default"])
                    )
        count: Any = 1
        if seeds and "seed" in by_name:
            count = st.number_input(
                "seeds",
                value=1,
                step=1,
                key=f"{key}-seeds",
                help=f"Start this configuration on this many seeds at once (1 to {MAX_SEEDS}): the seed above, "
                "seed + 1, and so on. Their results are shown together, with their IQM and its 95% interval.",
            )
        submitted = st.form_submit_button("Start run", icon=":material/play_arrow:", type="primary")
    if not submitted:
        return None
    problem = environment_problem(str(values.get("env_id", "")))
    if problem:
        st.error(f"Could not start the run: {problem}", icon=":material/error:")
        return None
    manager = usable_run_manager()  # opened on Start, not to draw the form
    if manager is None:
        return None
    try:
        if count != 1:
            group, run_ids = manager.start_seeds(algorithm, values, count, session=session_id())
            return Started(run_ids[0], group)
        return Started(manager.start(algorithm, values, session=session_id(), label=label))
    except (ConfigError, KeyError) as exc:
        st.error(f"Could not start the run: {exc}", icon=":material/error:")
        return None


@dataclass(frozen=True)
class Started:
    """What a start form started: one run, or (`group` set) the first run of a seed group."""

    run_id: str
    group: str | None = None


def _cuda() -> bool:
    from algorithms.contract import pick_device

    return pick_device("auto") == "cuda"


# --- watching a run ---------------------------------------------------------------------------
def downsample(frame: pd.DataFrame, limit: int = MAX_POINTS) -> pd.DataFrame:
    """Evenly spaced rows, always keeping the last: charts stay smooth for 100k+ points."""
    if len(frame) <= limit:
        return frame
    index = np.unique(np.linspace(0, len(frame) - 1, limit).astype(int))
    return frame.iloc[index]


def metric_frame(run_id: str) -> pd.DataFrame:
    """All points of a run, fetching only the new ones since the last poll of this session."""
    import pandas as pd

    cache = st.session_state.setdefault(f"run-points-{run_id}", {"seq": 0, "points": []})
    new = run_manager().store.metrics(run_id, after_seq=cache["seq"])
    if new:
        cache["seq"] = new[-1][0]
        cache["points"].extend(point for _, point in new)
    return pd.DataFrame(cache["points"])


def metric_charts(frame: pd.DataFrame, key: str) -> None:
    import plotly.graph_objects as go

    if frame.empty:
        st.caption("Waiting for the first metrics…")
        return
    x_name = "global_step" if "global_step" in frame else None
    shown = downsample(frame)
    groups = [(title, [k for k in keys if k in frame]) for title, keys in CHART_GROUPS]
    groups = [(title, keys) for title, keys in groups if keys]
    columns = st.columns(2)
    for index, (title, keys) in enumerate(groups):
        fig = go.Figure()
        for metric in keys:
            data = shown[[c for c in (x_name, metric) if c]].dropna()
            x = data[x_name] if x_name else data.index
            fig.add_trace(
                go.Scatter(x=x, y=data[metric], mode="lines", name=SHORT_NAMES.get(metric, metric.split("/")[-1]))
            )
        fig.update_layout(
            title=title,
            height=260,
            margin={"l": 10, "r": 10, "t": 40, "b": 10},
            legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
            xaxis_title=x_name or "update",
        )
        with columns[index % 2]:
            chart(fig, key=f"{key}-{title}", config={"displayModeBar": False})


def run_header(record: RunRecord) -> None:
    icon = STATUS_ICONS.get(record.status, "")
    st.markdown(f"#### {icon} Run `{record.id}` · {record.algorithm} · **{record.status}**")
    facts = [f"device: **{record.device or 'not started'}**", f"elapsed: **{format_seconds(record.duration)}**"]
    if record.status == RUNNING:
        facts.append(f"time left: **{format_seconds(record.eta)}**")
    st.caption(" · ".join(facts))


def run_monitor(run_id: str, key: str = "monitor") -> None:
    """Status, progress, device, live charts and a Stop button; polls once a second while active."""
    manager = run_manager()
    record = manager.get(run_id)
    if record is None:
        st.warning(f"There is no run with id `{run_id}`.", icon=":material/search_off:")
        return

    @st.fragment(run_every=1.0 if record.status in ACTIVE else None)
    def live() -> None:
        current = manager.get(run_id)
        run_header(current)
        if current.status == QUEUED:
            st.info(manager.queue_message(run_id), icon=":material/hourglass_top:")
        if current.status in ACTIVE:
            st.progress(current.progress, text=f"{current.progress:.0%}")
            if st.button("Stop", key=f"{key}-stop-{run_id}", icon=":material/stop:"):
                manager.stop_in_background(run_id)
                st.toast("Stopping the run…")
        frame = metric_frame(run_id)
        if current.status == FAILED:
            first, _, rest = (current.error or "no reason was recorded").strip().partition("\n")
            st.error(f"The run failed: {first}", icon=":material/error:")
            tail = manager.log_tail(run_id)
            if rest.strip() or tail:
                with st.expander("Details: the worker's traceback and log", expanded=False):
                    st.code("\n".join(part for part in (rest.strip(), tail) if part), language=None)
        elif current.status == STOPPED:
            st.warning(stopped_words(current, frame), icon=":material/stop_circle:")
        if current.status not in ACTIVE and current.status != FAILED:
            run_summary(current, frame)
        metric_charts(frame, key=f"{key}-{run_id}")
        if current.status in ACTIVE:
            latest_episode(manager.store.artifacts_dir / run_id)
        if current.status not in ACTIVE:
            final_results(current)
            if record.status in ACTIVE:
                st.rerun()  # the run just ended: redraw the page without the poll

    live()


def latest_episode(run_dir: Path) -> None:
    """A long run's periodic episode (``checkpoint_every``): the latest policy, while it trains."""
    latest = run_dir / LATEST_FILE
    if not latest.is_file():
        return
    try:
        info = json.loads(latest.read_text())
    except (OSError, ValueError):
        return  # being replaced right now: the next poll shows it
    when = time.strftime("%H:%M", time.localtime(info.get("time", 0)))
    caption = f"The latest policy, saved at step {int(info.get('global_step', 0)):,} ({when})"
    mean100 = info.get("charts/episodic_return_mean100")
    if mean100 is not None:
        caption += f"; mean return of the last 100 training episodes {mean100:,.1f}"
    episode = run_dir / "episode.gif"
    if info.get("episode") and episode.is_file():
        motion_safe_image(episode, caption)
    elif info.get("no_episode"):
        st.caption(f"{caption}. No animation: {info['no_episode']}")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _last(frame: pd.DataFrame, column: str) -> float | None:
    if column not in frame:
        return None
    values = frame[column].dropna()
    return float(values.iloc[-1]) if len(values) else None


def _best(frame: pd.DataFrame, column: str) -> float | None:
    if column not in frame:
        return None
    values = frame[column].dropna()
    return float(values.max()) if len(values) else None


def summary_facts(record: RunRecord, frame: pd.DataFrame) -> dict[str, str]:
    """What a person wants to know of a finished run, in words and units: label -> value."""
    m = record.final_metrics
    facts: dict[str, str] = {}
    eval_mean, eval_std = _number(m.get("eval_return_mean")), _number(m.get("eval_return_std"))
    mean100 = _last(frame, "charts/episodic_return_mean100")
    if eval_mean is not None:
        spread = f" ± {eval_std:,.1f}" if eval_std is not None else ""
        facts["Final return"] = f"{eval_mean:,.1f}{spread} (greedy evaluation)"
    elif mean100 is not None:
        facts["Final return"] = f"{mean100:,.1f} (mean of the last 100 training episodes)"
    best = _best(frame, "charts/episodic_return_mean100")
    if best is not None:
        facts["Best return"] = f"{best:,.1f} (mean of 100 training episodes)"
    elif (best := _best(frame, "charts/episodic_return")) is not None:
        facts["Best return"] = f"{best:,.1f} (one logged point)"
    threshold = _number(m.get("reward_threshold"))
    if threshold is not None:
        seconds, steps = _number(m.get("seconds_to_threshold")), _number(m.get("steps_to_threshold"))
        facts["Threshold"] = (
            f"{threshold:g}: reached after {format_seconds(seconds)} ({int(steps):,} steps)"
            if seconds is not None and steps is not None
            else f"{threshold:g}: not reached"
        )
    steps = _number(m.get("total_steps")) or _last(frame, "global_step")
    if steps is not None:
        episodes = _number(m.get("episodes"))
        facts["Steps"] = f"{int(steps):,}" + (f" in {int(episodes):,} episodes" if episodes is not None else "")
    wall = _number(m.get("seconds")) or record.duration
    facts["Wall time"] = format_seconds(wall)
    facts["Device"] = record.device or "not started"
    return facts


def run_summary(record: RunRecord, frame: pd.DataFrame) -> None:
    """The short summary of an ended run, in words; every raw number is one click away below it."""
    facts = summary_facts(record, frame)
    st.markdown("\n".join(f"- **{label}:** {value}" for label, value in facts.items()))


def stopped_words(record: RunRecord, frame: pd.DataFrame) -> str:
    """Why a stopped run ended where it did, and why it has no animation."""
    reason = f": {record.error}" if record.error else " on request"
    reached = f" after {record.progress:.0%} of its plan" if record.progress else ""
    episode = record.artifacts.get("episode")
    no_film = (
        ""
        if episode and Path(episode).exists()
        else " A stopped run records no animation of its policy: stopping frees its slot at once instead."
    )
    return f"Stopped{reason}{reached}. The summary below is what it reached.{no_film}"


def final_results(record: RunRecord) -> None:
    import pandas as pd

    numbers = {k: v for k, v in record.final_metrics.items() if _number(v) is not None}
    if numbers:
        with st.expander(f"All {len(numbers)} final numbers", expanded=False):
            table = pd.DataFrame(
                {"metric": [k.replace("_", " ") for k in numbers], "value": [f"{v:,.6g}" for v in numbers.values()]}
            )
            st.dataframe(table, hide_index=True)
    episode = record.artifacts.get("episode")
    if episode and Path(episode).exists():
        motion_safe_image(episode, "An episode of the final policy")
    no_episode = record.artifacts.get("no_episode")
    if not episode and no_episode and Path(no_episode).exists():
        st.info(Path(no_episode).read_text().strip(), icon=":material/videocam_off:")
    if record.artifacts:
        st.caption(
            "Artifacts: " + ", ".join(f"{name} (`{Path(path).name}`)" for name, path in record.artifacts.items())
        )
    with st.expander("Config"):
        st.json(record.config)


# --- comparing runs ---------------------------------------------------------------------------
def runs_table(records: list[RunRecord]) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for r in records:
        final = r.final_metrics.get("eval_return_mean")
        rows.append(
            {
                "id": r.id,
                "status": r.status,
                "algorithm": r.algorithm,
                "label": r.label or "",
                "group": r.group_id or "",
                "device": r.device or "",
                "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)),
                "duration": format_seconds(r.duration),
                "eval return": final if isinstance(final, int | float) else None,
                "config": ", ".join(f"{k}={v}" for k, v in r.config.items()),
            }
        )
    return pd.DataFrame(rows)


def legend_name(record: RunRecord | None, run_id: str) -> str:
    """A curve's name in a comparison: the algorithm and the run's label (its id when it has none)."""
    if record is None:
        return run_id
    return f"{record.algorithm} · {record.label or run_id}"


def compare_chart(run_ids: list[str], metric: str) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure()
    manager = run_manager()
    for run_id in run_ids:
        frame = metric_frame(run_id)
        if metric not in frame:
            continue
        data = downsample(frame[[c for c in ("global_step", metric) if c in frame]].dropna())
        x = data.get("global_step", data.index)
        fig.add_trace(go.Scatter(x=x, y=data[metric], mode="lines", name=legend_name(manager.get(run_id), run_id)))
    fig.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title=metric,
        legend={"orientation": "h", "y": -0.2},
        xaxis_title="global_step",
    )
    return fig


def live_run(params: Any, key: str) -> None:
    """A lesson's embedded run: a start form, then the monitor of the run it started.

    The run id goes into the URL next to the lesson id, so the run survives a page reload; so does
    the block that started it (`run_block`), so that two blocks of one lesson that offer the same
    algorithm (PPO on CartPole and on Hopper, say) do not both show it.

    The form is drawn without opening the run store; the store opens on Start, or when the URL
    names a run to show."""
    run_id = st.query_params.get("run")
    record = None
    if run_id:
        manager = usable_run_manager()
        if manager is None:
            return
        record = manager.get(run_id)
    block = st.query_params.get("run_block")
    if record is not None and record.algorithm == params.algorithm and block in (None, key):
        run_monitor(run_id, key=f"{key}-monitor")
        if record.status not in ACTIVE and st.button(
            "Start another run", key=f"{key}-again", icon=":material/restart_alt:"
        ):
            del st.query_params["run"]
            st.query_params.pop("run_block", None)
            st.rerun()
        return
    started = run_launcher(params.algorithm, key=key, preset=params.preset, main=params.fields or None)
    if started:
        st.query_params["run"] = started.run_id
        st.query_params["run_block"] = key
        st.rerun()
    st.caption("The run trains in its own process: leave the page and come back, or find it on the Runs page.")
