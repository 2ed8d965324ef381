"""The clipped surrogate against the probability ratio, for a positive and a negative advantage."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
import torch
from plotly.subplots import make_subplots

from algorithms.losses import ppo_clip_objective
from app.content.demos import PpoClipParams
from app.widgets.charts import chart, table_markdown


def ppo_clip_explorer(params: PpoClipParams, key: str) -> None:
    a, b = st.columns(2)
    clip_eps = a.slider("Clip ε", 0.05, 0.5, params.clip_eps, 0.01, key=f"{key}-eps")
    ratio_now = b.slider("A sample's ratio r = π_θ(a|s) / π_old(a|s)", 0.0, 2.5, params.ratio, 0.05, key=f"{key}-r")
    ratio = torch.linspace(0.0, 2.5, 501)
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=False,
        horizontal_spacing=0.1,
        subplot_titles=(f"Advantage A = +{params.advantage:g}", f"Advantage A = −{params.advantage:g}"),
    )
    for col, adv in ((1, params.advantage), (2, -params.advantage)):
        A = torch.full_like(ratio, adv)
        clipped = ppo_clip_objective(ratio, A, clip_eps).numpy()
        fig.add_trace(
            go.Scatter(
                x=ratio.numpy(),
                y=(ratio * A).numpy(),
                mode="lines",
                name="unclipped r·A",
                line={"color": "#9aa0a6", "dash": "dot"},
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=ratio.numpy(),
                y=clipped,
                mode="lines",
                name="L^CLIP = min(r·A, clip(r)·A)",
                line={"color": "#e4572e", "width": 3},
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        # Where the objective is flat, the gradient is zero: the sample stops pushing.
        flat = (ratio > 1 + clip_eps) if adv > 0 else (ratio < 1 - clip_eps)
        x_flat = ratio.numpy()[flat.numpy()]
        if len(x_flat):
            fig.add_vrect(
                x0=float(x_flat.min()),
                x1=float(x_flat.max()),
                fillcolor="#f3a712",
                opacity=0.12,
                line_width=0,
                row=1,
                col=col,
            )
        here = float(ppo_clip_objective(torch.tensor([ratio_now]), torch.tensor([adv]), clip_eps)[0])
        fig.add_trace(
            go.Scatter(
                x=[ratio_now],
                y=[here],
                mode="markers",
                marker={"size": 12, "color": "#2e86ab"},
                name="this sample",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        fig.add_vline(x=1.0, line_color="#55585e", line_width=1, row=1, col=col)
        fig.update_xaxes(title_text="ratio r", row=1, col=col)
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.25})
    chart(fig, key=f"{key}-chart", config={"displayModeBar": False})

    rows = []
    for adv in (params.advantage, -params.advantage):
        r = torch.tensor([ratio_now], requires_grad=True)
        ppo_clip_objective(r, torch.tensor([adv]), clip_eps).sum().backward()
        value = float(ppo_clip_objective(torch.tensor([ratio_now]), torch.tensor([adv]), clip_eps)[0])
        rows.append(
            {
                "advantage": adv,
                "L_CLIP": round(value, 4),
                "dL/dr": round(float(r.grad[0]), 4),
                "pushes?": "no: clipped" if float(r.grad[0]) == 0 else "yes",
            }
        )
    # Two rows: a Markdown table, not st.dataframe, whose grid and Arrow chunks (1.2 MB of JavaScript)
    # the clip explorer's section loaded for them alone.
    st.markdown(table_markdown(list(rows[0]), rows))
    st.caption(
        "Shaded: ratios where this sample's gradient is zero. Computed by algorithms.losses.ppo_clip_objective "
        "and autograd."
    )
