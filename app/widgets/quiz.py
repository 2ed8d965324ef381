"""How a question is drawn and answered: one form per question, graded on submit, feedback below it.

Used by lessons (`- quiz: [ids]`), the Practice and Review pages and drills. Every answer is recorded
through `app.learners.store.record_attempt` (imported when an answer comes: sqlalchemy is not light),
for the learner on the page, with its seed and the time it took. Drills pass a seed (fresh
parameters), `on_graded` (to hear the grade), `allow_retry=False` (one answer per question) and, in
a mock interview, `show_explanation=False` (no grade, no model answer until the end). Code runs in
the sandbox (app/grading/sandbox.py), never here.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.content.quiz_models import (
    AnyQuestion,
    ChoiceQuestion,
    ExplainQuestion,
    ImplementQuestion,
    OrderQuestion,
    PredictQuestion,
    SpotTheBugQuestion,
)
from app.grading import graders, predict
from app.grading.bank import topic_title
from app.grading.sandbox import isolation_note, reduced_protection, warm_up_in_background
from app.widgets.code import render_code
from app.widgets.identity import learner_or_default

KIND_LABELS = {
    "choice": ("Multiple choice", ":material/checklist:"),
    "predict": ("Predict the number", ":material/calculate:"),
    "order": ("Put in order", ":material/format_list_numbered:"),
    "implement": ("Implement", ":material/code:"),
    "explain": ("Explain it", ":material/record_voice_over:"),
    "spot-the-bug": ("Spot the bug", ":material/bug_report:"),
}
_warmed = threading.Event()
_HIT, _MISSED = ":green[:material/check_circle:]", ":gray[:material/radio_button_unchecked:]"


def question_label(q: AnyQuestion, width: int = 90) -> str:
    """The question's title: the prompt's first sentence of substance, markdown and LaTeX markers stripped.

    A short lead-in such as "An interviewer asks:" is skipped: it says nothing of the question."""
    text = re.sub(r"\{\{\s*\w+\s*\}\}", "…", q.prompt)
    text = re.sub(r"[`*$\\]", "", " ".join(text.split()))
    text = re.sub(r"(?<!\w)_|_(?!\w)", "", text)  # _emphasis_ markers go; snake_case names stay
    sentences = re.split(r"(?<=[.?!:])\s|(?<=[.?!:][\"”])\s", text)
    while len(sentences) > 1 and sentences[0].endswith(":") and len(sentences[0].split()) <= 4:
        sentences = sentences[1:]
    first = sentences[0].strip('"“”')  # a quoted question reads as the question
    return first if len(first) <= width else first[: width - 1] + "…"


def question_labels(questions: list[AnyQuestion], width: int = 90) -> dict[str, str]:
    """Each question's title, unique: two questions that would read the same get their ids added."""
    labels = {q.id: question_label(q, width) for q in questions}
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {qid: label if seen[label] == 1 else f"{label} ({qid})" for qid, label in labels.items()}


def _submit_label(opts: _Options) -> str:
    return "Check" if opts.reveal else "Submit"  # nothing is checked in front of the learner in a mock interview


def _graded(q: AnyQuestion, grade: Callable[[], graders.Grade]) -> graders.Grade:
    """The grade, or, if grading itself fails, a grade that says so: the answer is still recorded."""
    try:
        return grade()
    except Exception as exc:  # a grader bug or a reference that fails must never cost the learner the page
        return graders.Grade(
            q.id,
            q.kind,
            False,
            0.0,
            f"This answer could not be graded ({type(exc).__name__}: {exc}). It is recorded as not correct; "
            f"please report the question id `{q.id}`.",
            {"status": "grader-error"},
        )


def _state(key: str, name: str, default: Any = None) -> Any:
    return st.session_state.get(f"{key}::{name}", default)


def _set(key: str, name: str, value: Any) -> None:
    st.session_state[f"{key}::{name}"] = value


OnGraded = Callable[[AnyQuestion, graders.Grade, dict[str, Any]], None]


@dataclass(frozen=True)
class _Options:
    learner: str
    reveal: bool
    allow_retry: bool
    on_graded: OnGraded | None
    drill_id: str | None


def render_question(
    q: AnyQuestion,
    key: str,
    *,
    show_meta: bool = True,
    learner: str | None = None,
    seed: int = 0,
    show_explanation: bool = True,
    allow_retry: bool = True,
    on_graded: OnGraded | None = None,
    drill_id: str | None = None,
) -> None:
    """Draw question `q` with its answer form and, once answered, its grade.

    `seed` draws the first attempt's parameters (later attempts count up from it). `on_graded(q,
    grade, record)` is called after each recorded answer, a self-grade included. With
    `show_explanation=False` the learner sees "Answer recorded" and nothing of the key."""
    label, icon = KIND_LABELS[q.kind]
    attempt = int(_state(key, "attempt", seed))
    if _state(key, f"shown-{attempt}") is None:
        _set(key, f"shown-{attempt}", time.time())  # for the time taken
    opts = _Options(learner or learner_or_default(), show_explanation, allow_retry, on_graded, drill_id)
    with st.container(border=True, key=f"quiz-{key}"):
        if show_meta:
            st.caption(f"{icon} {label} · {topic_title(q.topic)} · {q.difficulty} · `{q.id}`")
        if isinstance(q, PredictQuestion):
            _predict(q, key, attempt, opts)
        else:
            st.markdown(q.prompt)
            if q.code:
                render_code(q.code, key=f"{key}-code")
            {
                ChoiceQuestion: _choice,
                OrderQuestion: _order,
                ExplainQuestion: _explain,
                SpotTheBugQuestion: _spot_the_bug,
                ImplementQuestion: _implement,
            }[type(q)](q, key, attempt, opts)


def _record(
    q: AnyQuestion,
    key: str,
    grade: graders.Grade,
    response: Any,
    seed: int | None,
    opts: _Options,
    *,
    self_graded: bool = False,
) -> None:
    if not self_graded:
        _set(key, "grade", grade)
    shown = _state(key, f"shown-{seed}")
    try:
        from app.learners import store

        record = store.record_attempt(
            opts.learner,
            q.id,
            q.kind,
            grade.correct,
            grade.score,
            response,
            seed=seed,
            self_graded=self_graded,
            details=_small(grade.details),
            duration_s=time.time() - shown if shown else None,
            drill_id=opts.drill_id,
        )
    except Exception as exc:  # a read-only data folder or a database that is down must not break the quiz
        st.toast(f"Could not record this answer: {exc}", icon=":material/warning:")
        return
    if opts.on_graded is not None:
        opts.on_graded(q, grade, record)
    if not opts.allow_retry and not self_graded:
        st.rerun()  # the form above was drawn before this answer: draw it again, locked


def _small(details: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in details.items()
        if k
        in (
            "cases_passed",
            "cases_total",
            "hit",
            "missed",
            "contradicted",
            "grader",
            "status",
            "line_ok",
            "seen_answer",
        )
    }


def _show_grade(q: AnyQuestion, key: str, opts: _Options) -> graders.Grade | None:
    """The grade, drawn; None when there is none yet or when it is hidden (a mock interview)."""
    grade: graders.Grade | None = _state(key, "grade")
    if grade is None:
        return None
    if not opts.reveal:
        st.info("Answer recorded.", icon=":material/done:")
        return None
    if grade.correct:
        st.success(grade.feedback, icon=":material/check_circle:")
    else:
        st.error(grade.feedback, icon=":material/cancel:")
    return grade


def _locked(key: str, opts: _Options) -> bool:
    """One answer per question when retries are off: the form's button is disabled once graded."""
    return not opts.allow_retry and _state(key, "grade") is not None


def _explanation(q: AnyQuestion) -> None:
    st.markdown(f"**Why.** {q.explanation}")


# ---------------------------------------------------------------------------------------------
# choice, order, predict
# ---------------------------------------------------------------------------------------------


def _choice(q: ChoiceQuestion, key: str, attempt: int, opts: _Options) -> None:
    options = graders.choice_options(q, attempt)
    with st.form(f"{key}-form"):
        if q.multiple:
            picked: Any = st.multiselect("Pick every correct answer", options, key=f"{key}-pick-{attempt}")
        else:
            picked = st.radio("Pick one", options, index=None, key=f"{key}-pick-{attempt}")
        submitted = st.form_submit_button(_submit_label(opts), type="primary", disabled=_locked(key, opts))
    if submitted:
        _record(q, key, _graded(q, lambda: graders.grade_choice(q, picked)), picked, attempt, opts)
    grade = _show_grade(q, key, opts)
    if grade is not None:
        if not grade.correct:
            st.markdown("**Answer:** " + "; ".join(q.answers))
        _explanation(q)
        _again_button(key, attempt, opts)


def _order(q: OrderQuestion, key: str, attempt: int, opts: _Options) -> None:
    options = graders.order_options(q, attempt)
    with st.form(f"{key}-form"):
        picked = st.multiselect(
            "Click the steps in the order they happen (first click = first step)",
            options,
            key=f"{key}-order-{attempt}",
        )
        submitted = st.form_submit_button(_submit_label(opts), type="primary", disabled=_locked(key, opts))
    if submitted:
        _record(q, key, _graded(q, lambda: graders.grade_order(q, picked)), picked, attempt, opts)
    grade = _show_grade(q, key, opts)
    if grade is not None:
        marks = grade.details["in_place"]
        lines = [
            f"{i + 1}. {_HIT if ok else _MISSED} {step}"
            for i, (step, ok) in enumerate(zip(q.steps, marks, strict=True))
        ]
        st.markdown("**The order:**\n\n" + "\n".join(lines))
        _explanation(q)
        _again_button(key, attempt, opts)


def _predict(q: PredictQuestion, key: str, attempt: int, opts: _Options) -> None:
    try:
        inst = predict.instance(q, attempt)
    except Exception as exc:
        st.markdown(q.prompt)
        st.error(f"This question's reference `{q.answer_from.call}` failed: {exc}", icon=":material/error:")
        return
    st.markdown(inst.prompt)
    if q.code:
        render_code(q.code, key=f"{key}-code")
    hint = "numbers separated by commas" if inst.answer_kind == "array" else "a number"
    with st.form(f"{key}-form"):
        answer = st.text_input(f"Your answer ({hint})", key=f"{key}-answer-{attempt}")
        submitted = st.form_submit_button(_submit_label(opts), type="primary", disabled=_locked(key, opts))
    if submitted:
        grade = _graded(q, lambda: graders.grade_predict(q, attempt, answer))
        if _state(key, f"revealed-{attempt}"):
            grade = _after_reveal(grade)
        _record(q, key, grade, answer, attempt, opts)
        if opts.reveal and not grade.correct and "reference" in grade.details:
            _set(key, f"revealed-{attempt}", True)  # the key is on screen now: these numbers are spent
    grade = _show_grade(q, key, opts)
    if grade is not None:
        st.caption(f"The key is computed by `{q.answer_from.call}` on this attempt's numbers.")
        _explanation(q)
    _again_button(key, attempt, opts, label="New numbers", always=True)


def _after_reveal(grade: graders.Grade) -> graders.Grade:
    """An answer given after the key was shown on these numbers: recorded, never as a clean right answer."""
    feedback = (
        "Right, but only after the answer was shown: recorded as seen-the-answer, and the question comes "
        "back in Review soon. Press New numbers to try it cold."
        if grade.correct
        else grade.feedback
    )
    return graders.Grade(grade.question_id, grade.kind, False, 0.0, feedback, {**grade.details, "seen_answer": True})


def _again_button(key: str, attempt: int, opts: _Options, label: str = "Try again", always: bool = False) -> None:
    if (
        opts.allow_retry
        and (always or _state(key, "grade") is not None)
        and st.button(label, key=f"{key}-again-{attempt}", icon=":material/refresh:")
    ):
        _set(key, "attempt", attempt + 1)
        _set(key, "grade", None)
        st.rerun()


# ---------------------------------------------------------------------------------------------
# explain, spot-the-bug
# ---------------------------------------------------------------------------------------------


_CONTRADICTED = ":red[:material/cancel:]"


def _quote(sentence: str | None) -> str:
    text = " ".join((sentence or "").split())
    return (text[:237] + "...") if len(text) > 240 else text


def _rubric_lists(grade: graders.Grade) -> None:
    """Per rubric point: made (with the sentence that made it), missed, or contradicted (quoted)."""
    points = grade.details.get("points")
    if points is None:  # a self-grade, or an older grade: only the lists
        points = [{"point": p, "status": "hit"} for p in grade.details.get("hit", [])]
        points += [{"point": p, "status": "missed"} for p in grade.details.get("missed", [])]
    lines = []
    for p in points:
        if p["status"] == "hit":
            said = f' *(you wrote: "{_quote(p.get("sentence"))}")*' if p.get("sentence") else ""
            lines.append(f"- {_HIT} {p['point']}{said}")
        elif p["status"] == "contradicted":
            lines.append(
                f'- {_CONTRADICTED} **Contradicted:** you wrote "{_quote(p.get("sentence"))}"; '
                f"the opposite holds: {p['point']}"
            )
        else:
            lines.append(f"- {_MISSED} {p['point']}")
    if lines:
        st.markdown("**Key points:**\n" + "\n".join(lines))


def _explain(q: ExplainQuestion, key: str, attempt: int, opts: _Options) -> None:
    with st.form(f"{key}-form"):
        text = st.text_area("Your answer, as you would say it in an interview", key=f"{key}-text-{attempt}", height=160)
        submitted = st.form_submit_button(_submit_label(opts), type="primary", disabled=_locked(key, opts))
    if submitted:
        _record(q, key, _graded(q, lambda: graders.grade_explain(q, text)), text, attempt, opts)
    grade = _show_grade(q, key, opts)
    if grade is None:
        return
    _rubric_lists(grade)
    with st.expander("Model answer", expanded=not grade.correct):
        st.markdown(q.model_answer)
    _explanation(q)
    with st.form(f"{key}-self-{attempt}"):
        st.markdown("**Grade yourself** against the rubric (the grader can misread you; you know what you meant):")
        ticks = [st.checkbox(point.point, key=f"{key}-tick-{attempt}-{i}") for i, point in enumerate(q.rubric)]
        if st.form_submit_button("Record my self-grade"):
            made = sum(ticks)
            hit = [p.point for p, t in zip(q.rubric, ticks, strict=True) if t]
            missed = [p.point for p, t in zip(q.rubric, ticks, strict=True) if not t]
            self_grade = graders.Grade(
                q.id,
                q.kind,
                made >= q.points_to_pass,
                made / len(q.rubric),
                "Self-graded.",
                {"hit": hit, "missed": missed},
            )
            _record(q, key, self_grade, {"points": hit}, attempt, opts, self_graded=True)
            st.success(f"Recorded: {made} of {len(q.rubric)} points.", icon=":material/how_to_reg:")
    _again_button(key, attempt, opts)


def _spot_the_bug(q: SpotTheBugQuestion, key: str, attempt: int, opts: _Options) -> None:
    st.code(q.snippet.rstrip("\n"), language="python", line_numbers=True)
    lines = len(q.snippet.rstrip("\n").split("\n"))
    with st.form(f"{key}-form"):
        line = st.number_input(
            "Line with the bug", min_value=1, max_value=lines, value=None, step=1, key=f"{key}-line-{attempt}"
        )
        fix = st.text_area("The fix: what should that line do instead?", key=f"{key}-fix-{attempt}", height=90)
        submitted = st.form_submit_button(_submit_label(opts), type="primary", disabled=_locked(key, opts))
    if submitted:
        line_no = int(line) if line is not None else None
        grade = _graded(q, lambda: graders.grade_spot_the_bug(q, line_no, fix))
        _record(q, key, grade, {"line": line_no, "fix": fix}, attempt, opts)
    grade = _show_grade(q, key, opts)
    if grade is None:
        return
    _rubric_lists(grade)
    with st.expander(f"The bug is on line {q.bug_line}", expanded=not grade.correct):
        st.markdown(q.model_fix)
    _explanation(q)
    _again_button(key, attempt, opts)


# ---------------------------------------------------------------------------------------------
# implement
# ---------------------------------------------------------------------------------------------


_MONOSPACE = (
    "<style>textarea[aria-label^='Your code'], textarea[aria-label^='The fix'] "
    "{font-family: 'Source Code Pro', ui-monospace, monospace; font-size: 0.85rem;}</style>"
)


def _implement(q: ImplementQuestion, key: str, attempt: int, opts: _Options) -> None:
    if not _warmed.is_set():
        _warmed.set()
        warm_up_in_background()
    st.html(_MONOSPACE)  # the code box is a text area (see below): make it read as code
    st.markdown(f"Signature: `{q.signature}`")
    for i, hint in enumerate(q.hints, start=1):
        with st.expander(f"Hint {i}"):
            st.markdown(hint)
    with st.form(f"{key}-form"):
        code = st.text_area(
            "Your code (Python; numpy and torch are available)",
            value=q.starter,
            height=300,
            key=f"{key}-code",
        )
        submitted = st.form_submit_button(
            "Run", type="primary", icon=":material/play_arrow:", disabled=_locked(key, opts)
        )
    note = isolation_note()
    st.caption(f":warning: {note}" if reduced_protection() else note)
    if submitted:
        with st.spinner("Running your code in the sandbox..."):
            grade = _graded(q, lambda: graders.grade_implement(q, code, seed=attempt))
        _set(key, "code", code)
        _record(q, key, grade, code, attempt, opts)
        if opts.allow_retry:
            _set(key, "attempt", attempt + 1)  # the next run draws new random cases
    grade = _show_grade(q, key, opts)
    if grade is None:
        return
    failure = grade.details.get("first_failure")
    if failure:
        st.markdown(f"**First failing case:** {failure['note']}")
        inputs = "\n".join(f"{name} = {value}" for name, value in failure["inputs"].items())
        st.code(f"{inputs}\n\nexpected: {failure['expected']}\ngot:      {failure['got']}", language="python")
    if grade.details.get("stdout"):
        with st.expander("What your code printed"):
            st.code(grade.details["stdout"], language=None)
    with st.expander("The code that ran", expanded=False):
        st.code(_state(key, "code", ""), language="python", line_numbers=True)
    if grade.correct:
        _explanation(q)
        st.markdown("**The reference** (the code the lessons show):")
        render_code(q.reference, key=f"{key}-reference")
    else:
        with st.expander("Give up and see the reference"):
            _explanation(q)
            render_code(q.reference, key=f"{key}-reference")
