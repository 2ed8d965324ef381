"""Accuracy over time sits on a calendar axis by day, readable from one day of answers to a year."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from app.widgets.progress import accuracy_figure


def rows(days: list[date]) -> list[dict]:
    return [{"day": d, "topic": "bandits", "answered": 3, "accuracy": 0.5} for d in days]


def test_one_day_of_answers_is_a_day_on_a_week_wide_date_axis() -> None:
    figure = accuracy_figure(rows([date(2026, 12, 2)]))
    axis = figure.layout.xaxis
    assert axis.type == "date"
    assert "%H" not in axis.tickformat and "%S" not in axis.tickformat  # never 23:59:59.9995
    start, end = (pd.Timestamp(x) for x in axis.range)
    assert end - start >= pd.Timedelta(days=7)
    assert axis.dtick == 86_400_000  # a tick a day
    assert figure.data[0].mode == "lines+markers" and figure.data[0].marker.size >= 8


def test_a_year_of_answers_names_the_year_and_lets_plotly_space_the_ticks() -> None:
    first = date(2026, 1, 1)
    figure = accuracy_figure(rows([first + timedelta(days=7 * i) for i in range(52)]))
    axis = figure.layout.xaxis
    assert "%Y" in axis.tickformat and axis.dtick is None
