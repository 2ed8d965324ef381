"""Planning demos: Dyna-Q's steps per episode on the Dyna Maze, and UCT's visit counts on a tic-tac-toe position."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from algorithms.planning import (
    DynaConfig,
    Maze,
    best_move,
    dyna_q_curves,
    legal_moves,
    mcts,
    parse_board,
    to_move,
    visit_table,
)
from app.content.demos import DynaMazeParams, MctsTreeParams
from app.widgets.charts import chart

PALETTE = ["#9aa0a6", "#2e86ab", "#e4572e", "#3bb273", "#7768ae"]


@st.cache_data(show_spinner=False, max_entries=16)
def _curves(planning_steps: tuple[int, ...], runs: int, episodes: int, seed: int) -> dict[int, list[float]]:
    return dyna_q_curves(DynaConfig(planning_steps=planning_steps, runs=runs, episodes=episodes, seed=seed))


def maze_figure(maze: Maze) -> go.Figure:
    z = [[1 if ch == "#" else 0 for ch in row] for row in maze.rows]
    text = [[ch if ch in "SG" else "" for ch in row] for row in maze.rows]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=text,
            texttemplate="%{text}",
            colorscale=[[0, "#f5f6f8"], [1, "#1f2430"]],
            showscale=False,
            xgap=2,
            ygap=2,
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        height=220,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title=f"The Dyna Maze: shortest path {maze.shortest_path()} steps",
        xaxis={"visible": False},
        yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x"},
    )
    return fig


def dyna_maze(params: DynaMazeParams, key: str) -> None:
    left, right = st.columns([2, 3])
    with left:
        chart(maze_figure(Maze()), key=f"{key}-maze", config={"displayModeBar": False})
        choices = sorted({0, 5, 10, 50, *params.planning_steps})
        chosen = st.pills(
            "Planning steps n per real step",
            choices,
            default=list(params.planning_steps),
            selection_mode="multi",
            key=f"{key}-n",
        )
        runs = st.slider("Runs averaged", 1, 30, params.runs, key=f"{key}-runs")
    if not chosen:
        right.info("Pick at least one n.", icon=":material/touch_app:")
        return
    with right, st.spinner(f"Running Dyna-Q: {runs} runs × {params.episodes} episodes per n…"):
        curves = _curves(tuple(sorted(chosen)), runs, params.episodes, params.seed)
        fig = go.Figure()
        for i, (n, curve) in enumerate(curves.items()):
            fig.add_trace(
                go.Scatter(
                    x=list(range(2, len(curve) + 1)),
                    y=curve[1:],
                    mode="lines",
                    name=f"n = {n}" + (" (Q-learning)" if n == 0 else ""),
                    line={"color": PALETTE[i % len(PALETTE)]},
                )
            )
        fig.update_layout(
            height=360,
            margin={"l": 10, "r": 10, "t": 30, "b": 10},
            title=f"Steps per episode, mean of {runs} runs (episode 1 omitted, as in Figure 8.2)",
            xaxis_title="episode",
            yaxis_title="steps",
            yaxis_range=[0, 800],
            legend={"orientation": "h", "y": -0.2},
        )
        chart(fig, key=f"{key}-curves", config={"displayModeBar": False})
        for column, (n, curve) in zip(st.columns(len(curves)), curves.items(), strict=True):
            within = next((i + 1 for i, v in enumerate(curve) if v < 25), None)
            column.metric(f"n = {n}: first episode under 25 steps", within if within else "not yet")


def board_figure(board: tuple[int, ...], rows: list[dict]) -> go.Figure:
    visits = {r["move"]: r for r in rows}
    total = sum(r["visits"] for r in rows) or 1
    z, text = [], []
    for r in range(3):
        z_row, t_row = [], []
        for c in range(3):
            cell = 3 * r + c
            if board[cell] != 0:
                z_row.append(None)
                t_row.append("<b>X</b>" if board[cell] == 1 else "<b>O</b>")
            else:
                row = visits.get(cell)
                share = row["visits"] / total if row else 0.0
                z_row.append(share)
                mean = "" if not row or row["mean"] is None else f"<br>mean {row['mean']:.2f}"
                exact = "" if not row else f"<br>minimax {row['minimax']:+d}"
                t_row.append(f"{row['visits'] if row else 0} visits{mean}{exact}")
        z.append(z_row)
        text.append(t_row)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            showscale=False,
            xgap=3,
            ygap=3,
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title="Share of the root's visits per move",
        xaxis={"visible": False},
        yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x"},
    )
    return fig


def mcts_tree(params: MctsTreeParams, key: str) -> None:
    a, b, c = st.columns([2, 2, 1])
    text = a.text_input("Position (row by row: X, O, .)", params.board, key=f"{key}-board")
    steps = sorted({10, 30, 100, 300, 1000, 3000, 10000, params.simulations})
    simulations = b.select_slider("Simulations", steps, value=params.simulations, key=f"{key}-sims")
    explore = c.number_input("UCT c", 0.0, 5.0, params.c, 0.1, key=f"{key}-c")
    try:
        board = parse_board(text)
    except ValueError as error:
        st.warning(str(error), icon=":material/edit:")
        return
    if not legal_moves(board):
        st.info("The game is over on this board: change a cell to search from a live position.", icon=":material/flag:")
        return
    root = mcts(board, simulations, explore, params.seed)
    rows = visit_table(root)
    chart(board_figure(board, rows), key=f"{key}-board-fig", config={"displayModeBar": False})
    move = best_move(root)
    best_exact = max(r["minimax"] for r in rows)
    chosen = next(r for r in rows if r["move"] == move)
    player = "X" if to_move(board) == 1 else "O"
    verdict = "a perfect move" if chosen["minimax"] == best_exact else "a mistake: minimax finds a better one"
    st.caption(
        f"{player} to move. The most visited move is cell {move} (row {move // 3 + 1}, column {move % 3 + 1}), "
        f"{verdict}. Mean = the share of simulations through that move that {player} won (a draw counts 1/2); "
        "minimax = its exact value with perfect play (+1 win, 0 draw, −1 loss). Lower the simulations to "
        "10 or 30 and watch the search spread its visits and pick worse moves."
    )
