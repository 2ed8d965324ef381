"""The debugging lab: train the correct PPO of algorithms/debug_lab.py and a buggy copy, then
compare their learning curves and diagnostics side by side."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from algorithms.contract import NonFiniteLossError
from algorithms.debug_lab import BUGS, DebugLabConfig, train
from app.content.demos import DebugLabParams
from app.widgets.charts import chart
from app.words import counted

CORRECT, BUGGY = "#2e86ab", "#e4572e"

# What each bug does to the curves, in the runs we measured (seeds 1 and 2, 30k steps).
SYMPTOMS = {
    "bug_no_termination_mask": "The value of every state climbs to about 1/(1-γ) = 100, explained variance "
    "sits near 0, and the return falls below a random policy's (about 9 steps).",
    "bug_truncation_as_termination": "The return may look fine. The critic does not: value loss and advantage "
    "spread several times larger, mean value lower, because the same state is worth 0 or ~100 depending on a "
    "clock the observation does not show.",
    "bug_log_prob_ratio": "The loss's 'ratio' drifts below 1 while the true KL stays small, the return falls to "
    "about 9, the gradient norm grows, and after some 15k steps a log-probability reaches 0 and the loss "
    "becomes NaN.",
    "bug_wrong_sign": "The first update already moves the policy by a KL above 1 (the clip does not stop a "
    "flipped objective), the return falls below random (about 9 steps: the agent learns to drop the pole) and "
    "the entropy collapses to 0. The critic is happy: explained variance near 1.",
    "bug_no_adv_norm": "Subtle here: the return curve is close to the correct one; the advantages in the loss "
    "keep their raw scale and mean, and the entropy falls faster. Adam rescales gradients, which hides most "
    "of it.",
    "bug_lr_too_high": "Approximate KL and clip fraction jump, the ratio's maximum reaches 10 or more, the entropy "
    "collapses, and the return is erratic or stuck at the bottom.",
}

# (metric key, panel title), drawn in a 3 x 3 grid.
PANELS = [
    ("charts/episodic_return", "Episode return"),
    ("losses/entropy", "Policy entropy"),
    ("losses/approx_kl", "Approx. KL(old ‖ new)"),
    ("losses/clip_fraction", "Clip fraction"),
    ("losses/explained_variance", "Explained variance"),
    ("losses/value", "Value loss"),
    ("diagnostics/value_mean", "Mean V(s)"),
    ("diagnostics/advantage_std", "Advantage std (raw)"),
    ("diagnostics/grad_norm", "Gradient norm (before clip)"),
]

_RESULTS: OrderedDict[tuple, dict] = OrderedDict()
_RESULTS_LOCK = threading.Lock()


def _key(bugs: tuple[str, ...], steps: int, seed: int) -> tuple:
    return (tuple(sorted(bugs)), steps, seed)


def _lookup(key: tuple) -> dict | None:
    with _RESULTS_LOCK:
        if key in _RESULTS:
            _RESULTS.move_to_end(key)
            return _RESULTS[key]
    return None


def _store(key: tuple, result: dict) -> None:
    """Results shared across sessions (like st.cache_data, but the progress bar is drawn outside)."""
    with _RESULTS_LOCK:
        _RESULTS[key] = result
        while len(_RESULTS) > 32:
            _RESULTS.popitem(last=False)


def run_lab(bugs: tuple[str, ...], steps: int, seed: int, on_update: Callable[[dict], None]) -> dict:
    """Train one configuration; a NaN loss ends the run early and is reported, not raised."""
    config = replace(DebugLabConfig(seed=seed, total_timesteps=steps), **dict.fromkeys(bugs, True))
    history: list[dict] = []

    def record(metrics: dict) -> None:
        history.append(dict(metrics))
        on_update(metrics)

    error = None
    final: dict = {}
    try:
        final = train(config, on_update=record).metrics
    except NonFiniteLossError as exc:
        error = str(exc)
    return {"history": history, "final": final, "error": error}


def _figure(correct: dict, buggy: dict, label: str) -> go.Figure:
    fig = make_subplots(rows=3, cols=3, subplot_titles=[title for _, title in PANELS], vertical_spacing=0.1)
    for index, (metric, _) in enumerate(PANELS):
        row, col = divmod(index, 3)
        for name, result, color in (("correct", correct, CORRECT), (label, buggy, BUGGY)):
            points = [
                (m["global_step"], m[metric]) for m in result["history"] if metric in m and math.isfinite(m[metric])
            ]
            fig.add_trace(
                go.Scatter(
                    x=[x for x, _ in points],
                    y=[y for _, y in points],
                    mode="lines",
                    name=name,
                    line={"color": color, "width": 1.8},
                    legendgroup=name,
                    showlegend=index == 0,
                ),
                row=row + 1,
                col=col + 1,
            )
    fig.update_xaxes(title_text="environment steps", row=3)
    fig.update_layout(
        height=720,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": 1.06, "x": 1, "xanchor": "right"},
        font={"size": 11},
    )
    fig.update_annotations(font_size=12)
    return fig


def _summary(column, title: str, result: dict) -> None:
    final = result["final"]
    history = result["history"]
    last = history[-1] if history else {}
    evaluation = final.get("eval_return_mean")
    column.metric(
        f"{title}: greedy evaluation",
        "stopped (NaN)" if result["error"] else ("n/a" if evaluation is None else f"{evaluation:.0f}"),
        help="Mean return of deterministic (argmax) episodes after training; 200 is the time limit here.",
    )
    if "charts/episodic_return_mean100" in last:
        column.caption(f"training return, last 100 episodes: {last['charts/episodic_return_mean100']:.1f}")
    if result["error"]:
        column.warning(result["error"].replace(": try a smaller learning rate", ""), icon=":material/warning:")


def debug_lab_demo(params: DebugLabParams, key: str) -> None:
    bugs = st.multiselect(
        "Bugs switched on in the second run",
        list(BUGS),
        default=list(params.bugs),
        format_func=BUGS.get,
        key=f"{key}-bugs",
        help="Each one is an explicit branch in algorithms/debug_lab.py, shown in the lesson above.",
    )
    left, right = st.columns(2)
    steps = left.select_slider(
        "Environment steps per run",
        sorted({10_240, 20_480, 30_720, params.total_timesteps}),
        value=params.total_timesteps,
        key=f"{key}-steps",
    )
    seed = int(right.number_input("Seed", 0, 1000, value=params.seed, step=1, key=f"{key}-seed"))
    if not bugs:
        st.info(
            "Tick at least one bug: the demo compares a buggy run with the correct one.", icon=":material/bug_report:"
        )
        return

    label = "buggy"
    correct_key, buggy_key = _key((), steps, seed), _key(tuple(bugs), steps, seed)
    correct, buggy = _lookup(correct_key), _lookup(buggy_key)
    # The training is shared by everyone (cached); the reveal is this learner's own: each one is asked
    # to predict before pressing the button, even when someone else trained these settings already.
    reveal_key = f"{key}-revealed-{buggy_key!r}"
    if not st.session_state.get(reveal_key):
        todo = (correct is None) + (buggy is None)
        if todo:
            st.caption(
                f"Predict first: what will the buggy run's curves do? Then press the button. It trains "
                f"{counted(todo, 'run')} of PPO on CartPole-v1 in this process, a few seconds each "
                "(longer when the machine is busy)."
            )
        else:
            st.caption("Predict first: what will the buggy run's curves do? Then press the button.")
        if not st.button("Train and compare", key=f"{key}-go", icon=":material/play_arrow:", type="primary"):
            return
        st.session_state[reveal_key] = True
    if correct is None or buggy is None:
        todo = (correct is None) + (buggy is None)
        bar = st.progress(0.0, text="Starting…")
        try:
            for name, run_key, run_bugs, offset in (
                ("the correct run", correct_key, (), 0),
                ("the buggy run", buggy_key, tuple(bugs), 1),
            ):
                if _lookup(run_key) is not None:
                    continue
                share = 1.0 / todo
                done = offset * share if todo == 2 else 0.0
                text = f"Training {name}…"

                def on_update(metrics: dict, done: float = done, share: float = share, text: str = text) -> None:
                    bar.progress(min(1.0, done + share * float(metrics.get("progress", 0.0))), text=text)

                _store(run_key, run_lab(run_bugs, steps, seed, on_update))
        except Exception as exc:  # a demo must not take the lesson down: say what happened instead
            bar.empty()
            st.error(f"Training failed: {exc}", icon=":material/error:")
            return
        bar.empty()
        correct, buggy = _lookup(correct_key), _lookup(buggy_key)
        if correct is None or buggy is None:  # evicted by other sessions in the meantime: unlikely
            st.warning("The results were dropped from the cache; press the button again.", icon=":material/refresh:")
            return

    a, b = st.columns(2)
    _summary(a, "Correct", correct)
    _summary(b, "Buggy", buggy)
    chart(_figure(correct, buggy, label), key=f"{key}-chart", config={"displayModeBar": False})
    with st.expander("What to look for", expanded=True):
        for bug in bugs:
            st.markdown(f"**{BUGS[bug]}.** {SYMPTOMS[bug]}")
