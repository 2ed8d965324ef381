"""A drill in progress, as the candidate sees it and as the interviewer sees it.

Both read the drill from the store on every run, so two tabs (a reload, a shared screen) see the
same drill; a tab learns of the other's clicks by polling the drill's version every two seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import streamlit as st

from app.content.quiz_models import AnyQuestion, SpotTheBugQuestion
from app.grading.bank import Questions, topic_title
from app.grading.bank import question as served_question
from app.learners import drills, store
from app.learners.drills import MOCK, RETRIEVAL, Drill, QuestionInfo, Result
from app.widgets.code import render_code
from app.widgets.drill import answer_key, clock, ending_words, question_prompt, render_report, result_line
from app.widgets.quiz import KIND_LABELS, OnGraded, render_question
from app.words import counted

DRILL_PAGE = "views/drill.py"
TITLES = {RETRIEVAL: "Retrieval drill", MOCK: "Mock interview"}


def load(drill_id: str) -> tuple[Drill, int] | None:
    """The drill and its version, ended first if its time ran out while nobody was looking."""
    row = store.load_drill(drill_id)
    if row is None:
        return None
    drill, version = Drill.from_dict(row["state"]), row["version"]
    now = time.time()
    if drill.finished_at is None and drill.is_over(now):
        drill = Drill.from_dict(store.update_drill(drill_id, drills.updating(lambda d: d.finish(now))) or row["state"])
        version += 1
    return drill, version


def _watch(drill_id: str, seen: int) -> None:
    """Rerun the page when another tab changes the drill."""

    @st.fragment(run_every=2)
    def _poll() -> None:
        row = store.load_drill(drill_id)
        if row is not None and row["version"] != seen:
            st.rerun(scope="app")

    _poll()


def _record_grade(drill_id: str, seed: int) -> OnGraded:
    def on_graded(q: AnyQuestion, grade: Any, record: dict[str, Any]) -> None:
        result = Result(
            q.id,
            seed,
            bool(grade.correct),
            float(grade.score),
            record.get("duration_s"),
            list(grade.details.get("missed", [])),
            bool(record.get("self_graded")),
            attempt_uuid=record.get("uuid"),
        )
        store.update_drill(drill_id, drills.updating(lambda d: d.grade(result)))

    return on_graded


def candidate_view(drill_id: str, questions: Questions, info: Mapping[str, QuestionInfo]) -> None:
    loaded = load(drill_id)
    if loaded is None:
        _missing(drill_id)
        return
    drill, _ = loaded
    st.title(TITLES.get(drill.kind, "Drill"))
    st.page_link(DRILL_PAGE, label="All drills", icon=":material/arrow_back:", query_params={})
    clock(drill)

    if drill.finished_at is not None:
        _finished(drill, questions, info, reveal=True)
        return

    item = drill.current()
    q = served_question(item.question_id) if item and questions.get(item.question_id) else None
    if item is None or q is None:  # a question removed from the bank since the drill began: skip it
        store.update_drill(drill_id, drills.updating(lambda d: d.advance(time.time(), drill.position)))
        st.rerun()
        return

    total = drill.position + len(drill.queue)
    if drill.kind == RETRIEVAL:
        st.caption(
            f"{drill.position} answered · {len(drill.queue)} to go · "
            f"{len(drill.missed)} missed so far (a missed question comes back until you get it right twice)"
        )
    else:
        st.caption(
            f"Question {drill.position + 1} of {total} · {KIND_LABELS[q.kind][0]} · {topic_title(q.topic)} · "
            "no feedback until the end"
        )
    render_question(
        q,
        key=f"drill-{drill_id}-{drill.position}",
        learner=drill.learner,
        seed=item.seed,
        show_meta=drill.kind == RETRIEVAL,
        show_explanation=drill.kind == RETRIEVAL,
        allow_retry=False,
        on_graded=_record_grade(drill_id, item.seed),
        drill_id=drill_id,
    )
    fresh = load(drill_id)
    if fresh is None:
        return
    now_drill, version = fresh
    answered = now_drill.pending is not None and now_drill.position == drill.position
    left, right = st.columns(2)
    with left:
        label = "Next question" if answered else "Skip"
        if st.button(
            label,
            type="primary" if answered else "secondary",
            icon=":material/arrow_forward:" if answered else ":material/skip_next:",
            key=f"drill-next-{drill.position}",
            help=None if answered else "A skipped question counts as missed",
        ):
            store.update_drill(drill_id, drills.updating(lambda d: d.advance(time.time(), drill.position)))
            st.rerun()
    with right:
        end_label = "End the interview" if drill.kind == MOCK else "End the drill"
        if st.button(end_label, icon=":material/stop_circle:", key="drill-end"):
            store.update_drill(drill_id, drills.updating(lambda d: d.finish(time.time())))
            st.rerun()
    if drill.interview:
        _watch(drill_id, version)


def interviewer_view(drill_id: str, questions: Questions, info: Mapping[str, QuestionInfo]) -> None:
    loaded = load(drill_id)
    if loaded is None:
        _missing(drill_id)
        return
    drill, version = loaded
    st.title(f"Interviewing {drill.learner}")
    st.caption(
        ":material/visibility: The interviewer's screen: the answer key shows here and never on the candidate's. "
        f"The candidate opens the same drill without `role=interviewer`: [the candidate's view](drill?drill={drill_id})"
        " (it opens in a new tab)."
    )
    clock(drill)
    if drill.finished_at is not None:
        _finished(drill, questions, info, reveal=True)
        return

    item = drill.current()
    q = served_question(item.question_id) if item and questions.get(item.question_id) else None
    if item is None or q is None:
        st.info("Waiting for the next question.", icon=":material/hourglass_empty:")
        _watch(drill_id, version)
        return
    st.subheader(f"Question {drill.position + 1} of {drill.position + len(drill.queue)}", divider="gray")
    st.caption(f"{KIND_LABELS[q.kind][0]} · {topic_title(q.topic)} · {q.difficulty} · `{q.id}`")
    st.markdown(question_prompt(q, item.seed))
    if isinstance(q, SpotTheBugQuestion):
        st.code(q.snippet.rstrip("\n"), language="python", line_numbers=True)
    elif q.code:
        render_code(q.code, key=f"interviewer-{drill_id}-{drill.position}-code")
    with st.container(border=True):
        st.markdown("**:material/key: Answer key**")
        answer_key(q, item.seed, key=f"interviewer-{drill_id}-{drill.position}")
    with st.container(border=True):
        st.markdown("**:material/person: The candidate's answer**")
        if drill.pending is None:
            st.caption("Not answered yet. This screen updates by itself.")
        else:
            _show_answer(drill_id, drill.pending)
    left, right = st.columns(2)
    with left:
        if st.button("Next question", type="primary", icon=":material/arrow_forward:", key=f"iv-next-{drill.position}"):
            store.update_drill(drill_id, drills.updating(lambda d: d.advance(time.time(), drill.position)))
            st.rerun()
    with right:
        if st.button("End the interview", icon=":material/stop_circle:", key="iv-end"):
            store.update_drill(drill_id, drills.updating(lambda d: d.finish(time.time())))
            st.rerun()
    if drill.results:
        with st.expander(f"So far: {sum(r.correct for r in drill.results)} of {len(drill.results)} right"):
            for r in drill.results:
                st.markdown(f"- {result_line(questions.get(r.question_id), r)}")
    _watch(drill_id, version)


def _show_answer(drill_id: str, result: Result) -> None:
    record = next((a for a in store.attempts(drill_id=drill_id) if a["uuid"] == result.attempt_uuid), None)
    verdict = "right" if result.correct else "not right"
    st.markdown(
        f"Graded **{verdict}** ({round(100 * result.score)}%)" + (", self-graded" if result.self_graded else "")
    )
    if result.missed_points:
        st.markdown("Missed: " + "; ".join(result.missed_points))
    response = record.get("response") if record else None
    if isinstance(response, dict) and "fix" in response:
        st.markdown(f"Line {response.get('line')}: {response.get('fix')}")
    elif isinstance(response, str) and "\n" in response:
        st.code(response, language="python" if record and record["kind"] == "implement" else None)
    elif response is not None:
        st.markdown(f"> {response}")


def _finished(drill: Drill, questions: Questions, info: Mapping[str, QuestionInfo], reveal: bool) -> None:
    if drill.kind == MOCK:
        st.success("The interview is over. Here is how it went.", icon=":material/flag:")
        report = drills.report(drill, info)
        ending = ending_words(len(report.unanswered), drill.finished_at, drill.ends_at)
        render_report(report, questions, info, reveal=reveal, ending=ending)
    else:
        cleared = not drill.queue
        if cleared:
            st.success(
                f"Drill done: {len({r.question_id for r in drill.results})} questions, "
                f"{len(drill.missed)} missed at first and then answered right twice.",
                icon=":material/task_alt:",
            )
        else:
            st.info(f"Drill ended with {counted(len(drill.queue), 'question')} still to go.", icon=":material/flag:")
        for r in drill.results:
            st.markdown(f"- {result_line(questions.get(r.question_id), r)}")
    st.page_link(DRILL_PAGE, label="Start another drill", icon=":material/replay:", query_params={})


def _missing(drill_id: str) -> None:
    st.title("Drill not found")
    st.warning(f"There is no drill with id `{drill_id}`.", icon=":material/search_off:")
    st.page_link(DRILL_PAGE, label="Start a drill", icon=":material/arrow_back:", query_params={})
