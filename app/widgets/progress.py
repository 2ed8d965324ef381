"""How progress is drawn: the headline numbers, accuracy by topic over time, the weakest topics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.express as px
import streamlit as st

from app.content.loader import load_catalogue
from app.grading.bank import topic_title
from app.learners.progress import Summary, TopicStats, accuracy_over_time
from app.widgets.catalogue import lesson_link
from app.widgets.charts import chart


def headline(s: Summary) -> None:
    cols = st.columns(5)
    cols[0].metric("Lessons done", s.lessons_done)
    cols[1].metric("Answers", s.answered, help=f"{s.questions_seen} different questions")
    cols[2].metric("Accuracy", f"{round(100 * s.accuracy)}%" if s.answered else "–")
    cols[3].metric("Streak", f"{s.streak} day{'s' if s.streak != 1 else ''}")
    cols[4].metric("Cards due", s.due_now, help=f"{s.due_week} due within a week")


def accuracy_chart(attempts: list[dict[str, Any]], topic_of: Mapping[str, str], key: str) -> None:
    rows = accuracy_over_time(attempts, topic_of)
    if rows:
        chart(accuracy_figure(rows), key=key)


def accuracy_figure(rows: list[dict[str, Any]]) -> Any:
    """Accuracy so far by topic on a calendar axis by day: one day of data reads as a day, not as hours."""
    frame = pd.DataFrame(rows)
    frame["day"] = pd.to_datetime(frame["day"])
    frame["topic"] = frame["topic"].map(lambda t: topic_title(t) or "Other")
    figure = px.line(
        frame,
        x="day",
        y="accuracy",
        color="topic",
        markers=True,
        hover_data={"answered": True},
        labels={"day": "", "accuracy": "accuracy so far", "topic": "topic"},
    )
    first, last = frame["day"].min(), frame["day"].max()
    last = max(last, first + pd.Timedelta(days=6))  # at least a week wide, so a single day is a column
    figure.update_traces(marker={"size": 9})
    figure.update_xaxes(
        type="date",
        range=[first - pd.Timedelta(hours=12), last + pd.Timedelta(hours=12)],
        tickformat="%d %b\n%Y" if (last - first).days > 180 else "%d %b",
        hoverformat="%a %d %b %Y",
        dtick=86_400_000 if (last - first).days <= 14 else None,  # one tick a day for short spans
        showgrid=True,
    )
    figure.update_yaxes(range=[0, 1.05], tickformat=".0%")
    figure.update_layout(height=340, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend_title_text="")
    return figure


def topic_table(stats: list[TopicStats]) -> None:
    frame = pd.DataFrame(
        [{"topic": topic_title(s.topic) or "Other", "answers": s.answered, "accuracy": s.accuracy} for s in stats]
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={"accuracy": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)},
    )


def weakest(stats: list[TopicStats], lessons_of_topic: Mapping[str, list[str]], key: str) -> None:
    """The weakest topics, each with a drill link and the lessons its questions point to."""
    if not stats:
        st.caption("No weak topic yet: answer a few more questions (two per topic at least).")
        return
    catalogue = load_catalogue()
    for s in stats:
        with st.container(border=True):
            st.markdown(f"**{topic_title(s.topic)}**: {s.right} of {s.answered} right ({round(100 * s.accuracy)}%)")
            with st.container(horizontal=True, gap="small"):
                st.page_link(
                    "views/drill.py",
                    label="Drill this topic",
                    icon=":material/fitness_center:",
                    query_params={"topic": s.topic},
                )
                for lesson_id in lessons_of_topic.get(s.topic, [])[:3]:
                    if lesson_id in catalogue.lessons:
                        lesson_link(catalogue, lesson_id, icon=":material/menu_book:")
