"""The GAE explorer: what lambda does to the bias and the variance of advantage estimates."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from algorithms.returns import gae_bias_variance
from app.content.demos import GaeExplorerParams
from app.widgets.charts import chart

LAMS = np.round(np.linspace(0.0, 1.0, 21), 2)


@st.cache_data(show_spinner=False, max_entries=32)
def _sweep(gamma: float, reward_noise: float, critic_error: float, seed: int) -> dict[str, np.ndarray]:
    return gae_bias_variance(LAMS, gamma=gamma, reward_noise=reward_noise, critic_error=critic_error, seed=seed)


def gae_explorer(params: GaeExplorerParams, key: str) -> None:
    a, b = st.columns(2)
    lam = a.slider("λ (GAE)", 0.0, 1.0, params.lam, 0.05, key=f"{key}-lam")
    gamma = b.slider("γ", 0.8, 0.999, params.gamma, 0.001, format="%.3f", key=f"{key}-gamma")
    c, d = st.columns(2)
    reward_noise = c.slider("Reward noise σ", 0.0, 3.0, params.reward_noise, 0.1, key=f"{key}-noise")
    critic_error = d.slider("Critic error", 0.0, 3.0, params.critic_error, 0.1, key=f"{key}-critic")
    result = _sweep(gamma, reward_noise, critic_error, params.seed)

    fig = make_subplots(
        rows=2,
        cols=2,
        vertical_spacing=0.2,
        horizontal_spacing=0.12,
        specs=[[{}, {}], [{"colspan": 2}, None]],
        subplot_titles=(
            "Bias²: critic error that reaches the gradient",
            "Variance: reward noise (log scale)",
            f"Weight on each n-step estimate, λ = {lam:.2f}",
        ),
    )
    fig.add_trace(go.Scatter(x=result["lam"], y=result["bias"], line={"color": "#e4572e"}, name="bias²"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=result["lam"], y=result["variance"], line={"color": "#2e86ab"}, name="variance"), row=1, col=2
    )
    for col in (1, 2):
        fig.add_vline(x=lam, line_dash="dot", line_color="#55585e", row=1, col=col)
        fig.update_xaxes(title_text="λ", row=1, col=col)
    fig.update_yaxes(type="log", row=1, col=2)
    n = np.arange(1, 31)
    weights = (1 - lam) * lam ** (n - 1) if lam < 1 else np.zeros_like(n, dtype=float)
    fig.add_trace(go.Bar(x=n, y=weights, marker_color="#3bb273", name="(1-λ) λⁿ⁻¹"), row=2, col=1)
    fig.update_xaxes(title_text="n (real rewards before bootstrapping)", row=2, col=1)
    fig.update_layout(height=560, margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=False)
    chart(fig, key=f"{key}-chart", config={"displayModeBar": False})
    index = int(np.argmin(np.abs(result["lam"] - lam)))
    m1, m2 = st.columns(2)
    m1.metric("bias² at this λ", f"{result['bias'][index]:.3f}")
    m2.metric("variance at this λ", f"{result['variance'][index]:.2f}")
    st.caption(
        "A 50-step chain whose true advantages are all 0, 400 episodes, computed by "
        "algorithms.returns.gae_bias_variance. With λ = 1 the weight is all on the full return "
        "(Monte Carlo), so the lower chart, of the weights on the n-step estimates, is empty."
    )
