"""Every chart with a text alternative: one call instead of st.plotly_chart.

`chart(fig, key=...)` draws the figure with an accessible name (Streamlit's `alt`: a sentence naming
what the chart shows, built from its title, axes and series unless the caller gives one) and, behind an
expander, the numbers it plots as a real HTML table a screen reader can walk cell by cell (a
Markdown table: no pandas import, which would cost a cold lesson most of a second).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

MAX_ROWS = 60  # a table longer than this is thinned to evenly spaced rows (and says so)
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|~$-])")


def _text(value: Any) -> str:
    text = getattr(value, "text", value)
    return str(text).strip() if text else ""


def _axis_title(fig: go.Figure, trace: Any, letter: str) -> str:
    name = getattr(trace, f"{letter}axis", None) or letter  # "x", "x2", ...
    axis = fig.layout[f"{letter}axis{name[1:]}"] if name != letter else fig.layout[f"{letter}axis"]
    return _text(axis.title) if axis is not None else ""


def _title(fig: go.Figure) -> str:
    title = _text(fig.layout.title)
    if title:
        return title
    subplot_titles = [_text(a.text) for a in fig.layout.annotations or [] if a.text and a.yref == "paper"]
    return "; ".join(subplot_titles)


def _series_name(trace: Any, index: int) -> str:
    return _text(trace.name) or f"series {index + 1}"


def _values(data: Any) -> list[Any]:
    if data is None:
        return []
    return list(np.asarray(data, dtype=object).ravel()) if not isinstance(data, list | tuple) else list(data)


@dataclass
class Table:
    """Rows of plotted values under named columns (a column a row lacks reads as blank)."""

    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Any]:
        return [row.get(name) for row in self.rows]

    def add(self, row: dict[str, Any]) -> None:
        for name in row:
            if name not in self.columns:
                self.columns.append(name)
        self.rows.append(row)


def figure_table(fig: go.Figure) -> Table:
    """The plotted numbers, one row per point: series, x, y (heatmaps: one row per cell)."""
    table = Table()
    for index, trace in enumerate(fig.data):
        series = _series_name(trace, index)
        if getattr(trace, "z", None) is not None and trace.type in ("heatmap", "contour"):
            z = np.asarray(trace.z, dtype=float)
            xs = _values(trace.x) or list(range(z.shape[1]))
            ys = _values(trace.y) or list(range(z.shape[0]))
            for r in range(z.shape[0]):
                for c in range(z.shape[1]):
                    table.add({"series": series, "x": xs[c], "y": ys[r], "value": float(z[r, c])})
            continue
        ys = _values(getattr(trace, "y", None))
        xs = _values(getattr(trace, "x", None))
        if not ys and not xs:
            continue
        if not xs:
            xs = list(range(len(ys)))
        if not ys:
            ys = [None] * len(xs)
        x_name = _axis_title(fig, trace, "x") or "x"
        y_name = _axis_title(fig, trace, "y") or "y"
        if x_name == y_name:
            x_name, y_name = "x", "y"
        for x, y in zip(xs, ys, strict=False):
            table.add({"series": series, x_name: x, y_name: y})
    return table


def describe(fig: go.Figure) -> str:
    """A one-sentence description built from the figure: its title, series and axes."""
    title = _title(fig)
    names = [_series_name(t, i) for i, t in enumerate(fig.data) if t.showlegend is not False or len(fig.data) == 1]
    names = list(dict.fromkeys(names))
    kinds = sorted({t.type for t in fig.data}) or ["empty"]
    kind = {"scatter": "line chart", "bar": "bar chart", "heatmap": "heat map"}.get(kinds[0], f"{kinds[0]} chart")
    parts = [f"{kind.capitalize()}" + (f": {title}" if title else "")]
    if names:
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        parts.append(f"{len(names)} series ({shown})")
    if fig.data:
        x_title, y_title = _axis_title(fig, fig.data[0], "x"), _axis_title(fig, fig.data[0], "y")
        if x_title or y_title:
            parts.append(f"{y_title or 'values'} against {x_title or 'x'}")
    return ". ".join(parts) + ". The numbers are in the table below the chart."


def _thin(table: Table) -> tuple[list[dict[str, Any]], bool]:
    if len(table) <= MAX_ROWS:
        return table.rows, False
    picks = np.unique(np.linspace(0, len(table) - 1, MAX_ROWS).round().astype(int))
    return [table.rows[i] for i in picks], True


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        text = f"{value:.4g}"
    else:
        text = str(value.item() if isinstance(value, np.generic) else value)
    return _MARKDOWN.sub(r"\\\1", " ".join(text.split()))


def table_markdown(columns: list[str], rows: list[dict[str, Any]]) -> str:
    """A Markdown table (an HTML table once drawn) of `rows`, numbers to 4 significant figures."""
    lines = ["| " + " | ".join(_cell(name) for name in columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(name)) for name in columns) + " |" for row in rows]
    return "\n".join(lines)


def title_markdown(title: str) -> str:
    """A Plotly title (which may hold <br>, <b>, <sub>) as one line of bold Markdown, special signs escaped."""
    plain = " ".join(_TAGS.sub("", _BREAK.sub(" ", title)).split())
    escaped = _MARKDOWN.sub(r"\\\1", plain)
    return f"**{escaped}**" if plain else ""


def lift_title(fig: go.Figure) -> str:
    """Take the figure's own title out of it and return it as Markdown for the page to write above.

    Plotly draws a title on one SVG line that never wraps: a long one is cut at a phone's edge. Written
    by the page it wraps like any text, follows the theme and is read in order by a screen reader. The
    room Plotly kept for the title at the top goes too (its top margin shrinks to what is left)."""
    text = _text(fig.layout.title)
    if not text:
        return ""
    top = fig.layout.margin.t
    fig.update_layout(title_text=None, margin_t=max(10, top - 40) if top is not None else 30)
    return title_markdown(text)


def chart(fig: go.Figure, *, key: str, summary: str | None = None, **kwargs: Any) -> None:
    """st.plotly_chart(fig, key=key, **kwargs) plus its text alternative (module docstring).

    The figure's title is written above the chart as text (`lift_title`), so a long one wraps."""
    description = summary or describe(fig)
    title = _title(fig) or "this chart"
    heading = lift_title(fig)
    if heading:
        st.markdown(heading)
    st.plotly_chart(fig, key=key, alt=description, **kwargs)
    table = figure_table(fig)
    if not len(table):
        return
    shown, thinned = _thin(table)
    with st.expander(f"The numbers behind {title}", icon=":material/table_view:"):
        if thinned:
            st.caption(f"{len(shown)} of {len(table)} points, evenly spaced.")
        st.markdown(table_markdown(table.columns, shown))
