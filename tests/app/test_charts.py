"""Every chart has a text alternative: an accessible description and the numbers behind it in a table."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots
from streamlit.testing.v1 import AppTest

from app.content.demos import DEMOS
from app.widgets.charts import MAX_ROWS, describe, figure_table

REQUIRED = {"live-run": {"algorithm": "tabular"}}  # demos whose params have no defaults


def two_panel_figure() -> go.Figure:
    fig = make_subplots(rows=2, cols=1, subplot_titles=("Weights", "Returns"))
    fig.add_trace(go.Bar(x=[0, 1, 2], y=[1.0, 0.9, 0.81], name="γᵏ"), row=1, col=1)
    fig.add_trace(go.Scatter(x=[0, 1, 2], y=[2.71, 1.9, 1.0], name="return Gₜ"), row=2, col=1)
    fig.update_xaxes(title_text="step t", row=2, col=1)
    fig.update_yaxes(title_text="G", row=2, col=1)
    return fig


def test_the_table_holds_every_plotted_point_with_its_series_and_axis_names() -> None:
    table = figure_table(two_panel_figure())
    assert len(table) == 6
    assert list(dict.fromkeys(table.column("series"))) == ["γᵏ", "return Gₜ"]
    returns = [row for row in table.rows if row["series"] == "return Gₜ"]
    assert [row["step t"] for row in returns] == [0, 1, 2]  # the second panel's own axis titles
    assert [row["G"] for row in returns] == [2.71, 1.9, 1.0]
    assert table.columns == ["series", "x", "y", "step t", "G"]


def test_a_heatmap_becomes_one_row_per_cell() -> None:
    fig = go.Figure(go.Heatmap(z=[[1.0, 2.0], [3.0, 4.0]], x=["a", "b"], y=["r1", "r2"], name="values"))
    table = figure_table(fig)
    assert len(table) == 4
    assert [row["value"] for row in table.rows if row["x"] == "b" and row["y"] == "r2"] == [4.0]


def test_the_description_names_the_kind_title_series_and_axes() -> None:
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4], name="PPO"), layout={"title": "Episodic return"})
    fig.add_trace(go.Scatter(x=[1, 2], y=[2, 5], name="A2C"))
    fig.update_layout(xaxis_title="step", yaxis_title="return")
    text = describe(fig)
    assert text.startswith("Line chart: Episodic return.")
    assert "2 series (PPO, A2C)" in text
    assert "return against step" in text
    assert describe(two_panel_figure()).startswith("Bar chart: Weights; Returns.")


def _render_chart(points: int) -> None:
    import plotly.graph_objects as go

    from app.widgets.charts import chart

    chart(go.Figure(go.Scatter(x=list(range(points)), y=[v * 0.5 for v in range(points)], name="curve")), key="c")


def test_chart_draws_the_figure_with_alt_text_and_a_thinned_table() -> None:
    at = AppTest.from_function(_render_chart, args=(500,)).run()
    assert not at.exception
    plot = at.get("plotly_chart")[0]
    assert plot.proto.alt.startswith("Line chart")
    assert at.expander[0].label.startswith("The numbers behind")
    assert f"{MAX_ROWS} of 500 points" in at.caption[0].value
    lines = at.markdown[0].value.splitlines()
    assert lines[0] == "| series | x | y |" and len(lines) == 2 + MAX_ROWS
    assert lines[2] == "| curve | 0 | 0 |" and lines[-1] == "| curve | 499 | 249.5 |"


def test_table_cells_are_escaped_rounded_and_blank_when_missing() -> None:
    from app.widgets.charts import table_markdown

    text = table_markdown(["series", "a|b"], [{"series": "x*y", "a|b": 1 / 3}, {"series": "n", "a|b": float("nan")}])
    assert text.splitlines() == ["| series | a\\|b |", "| --- | --- |", "| x\\*y | 0.3333 |", "| n |  |"]


def _render_titled_chart() -> None:
    import json

    import plotly.graph_objects as go
    import streamlit as st

    from app.widgets.charts import chart

    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 2], name="curve"))
    fig.update_layout(title="Sum of rewards per episode (mean of 20 runs,<br>10-episode <b>average</b>)", margin_t=64)
    chart(fig, key="c")
    st.session_state["sent"] = json.loads(fig.to_json())["layout"]


def test_a_long_title_is_written_above_the_chart_as_text_that_wraps() -> None:
    """Plotly never wraps a title: at 390 px a long one was cut at the chart's edge (issue 12)."""
    at = AppTest.from_function(_render_titled_chart).run()
    assert not at.exception
    assert at.markdown[0].value == "**Sum of rewards per episode \\(mean of 20 runs, 10\\-episode average\\)**"
    sent = at.session_state["sent"]
    assert not sent.get("title", {}).get("text"), "the figure still draws its own title"
    assert sent["margin"]["t"] == 24  # the room kept for the title is given back
    plot = at.get("plotly_chart")[0]
    assert "Sum of rewards per episode" in plot.proto.alt  # the accessible name still has it
    assert at.expander[0].label == (
        "The numbers behind Sum of rewards per episode (mean of 20 runs,<br>10-episode <b>average</b>)"
    )


def _render_demo(name: str, params: dict) -> None:
    import sys
    from pathlib import Path

    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.widgets.demos import render_demo

    render_demo(name, params, key="t")


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_every_chart_of_every_demo_has_a_text_alternative(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    at = AppTest.from_function(_render_demo, args=(name, REQUIRED.get(name, {})), default_timeout=120).run()
    assert not at.exception, at.exception
    plots = at.get("plotly_chart")
    assert all(p.proto.alt for p in plots), f"{name}: a chart without alt text"
    tables = [e for e in at.expander if e.label.startswith("The numbers behind")]
    assert len(tables) == len(plots), f"{name}: {len(plots)} chart(s), {len(tables)} data table(s)"
