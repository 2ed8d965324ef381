"""Windy gridworld, Sutton & Barto (2018), Example 6.5, as a Gymnasium environment.

A 7x10 grid. The agent starts at (3, 0) and must reach the goal at (3, 7). A crosswind
blows upward through the middle of the grid with a strength that varies by column
(0 0 0 1 1 1 2 2 1 0): after a move, the agent is pushed that many cells up, where the
strength is the one of the column the agent moved *from* (as in the book's figure and
its usual implementations). Every step costs -1 until the goal is reached, and the
episode then terminates. With the four standard moves the shortest path takes 15
steps; with king's moves (Exercise 6.9) it takes 7.

Like Gymnasium's toy-text environments, the dynamics are a table
``P[s][a] = [(probability, next_state, reward, terminated)]``, so the tabular learners
in ``algorithms.tabular`` can read the very model that ``step`` uses.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import Env, spaces

SHAPE = (7, 10)
START = (3, 0)
GOAL = (3, 7)
WIND = (0, 0, 0, 1, 1, 1, 2, 2, 1, 0)
"""Upward push per column, Example 6.5."""

# (d_row, d_col); rows grow downward, so "up" is -1. The first four follow CliffWalking's order.
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))
KING_MOVES = (*MOVES, (-1, 1), (1, 1), (1, -1), (-1, -1))
ACTION_NAMES = ("up", "right", "down", "left", "up-right", "down-right", "down-left", "up-left")


def windy_move(row: int, col: int, d_row: int, d_col: int) -> tuple[int, int]:
    """Next cell after a move and the wind of the column it starts from, kept inside the grid."""
    n_rows, n_cols = SHAPE
    new_row = min(max(row + d_row - WIND[col], 0), n_rows - 1)
    new_col = min(max(col + d_col, 0), n_cols - 1)
    return new_row, new_col


class WindyGridworldEnv(Env[int, int]):
    """Sutton & Barto Example 6.5. Observation: row * 10 + col. Actions: up, right, down, left
    (and, with ``king_moves=True``, the four diagonals)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, king_moves: bool = False, render_mode: str | None = None):
        self.shape = SHAPE
        self.king_moves = king_moves
        moves = KING_MOVES if king_moves else MOVES
        self.nS = SHAPE[0] * SHAPE[1]
        self.nA = len(moves)
        self.start_state_index = int(np.ravel_multi_index(START, SHAPE))
        self.goal_state_index = int(np.ravel_multi_index(GOAL, SHAPE))

        self.P: dict[int, dict[int, list[tuple[float, int, float, bool]]]] = {}
        for s in range(self.nS):
            row, col = divmod(s, SHAPE[1])
            self.P[s] = {}
            for a, (d_row, d_col) in enumerate(moves):
                if s == self.goal_state_index:
                    # Never reached by step (the episode ends on arrival); a self-loop keeps P total.
                    self.P[s][a] = [(1.0, s, 0.0, True)]
                    continue
                s_next = int(np.ravel_multi_index(windy_move(row, col, d_row, d_col), SHAPE))
                self.P[s][a] = [(1.0, s_next, -1.0, s_next == self.goal_state_index)]

        self.initial_state_distrib = np.zeros(self.nS)
        self.initial_state_distrib[self.start_state_index] = 1.0
        self.observation_space = spaces.Discrete(self.nS)
        self.action_space = spaces.Discrete(self.nA)
        self.render_mode = render_mode
        self.s = self.start_state_index
        self.lastaction: int | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.s = int(self.np_random.choice(self.nS, p=self.initial_state_distrib))
        self.lastaction = None
        return self.s, {"prob": 1.0}

    def step(self, action: int):
        transitions = self.P[self.s][int(action)]
        i = int(self.np_random.choice(len(transitions), p=[t[0] for t in transitions]))
        p, s_next, r, terminated = transitions[i]
        self.s, self.lastaction = s_next, int(action)
        # The time limit, if any, belongs to a TimeLimit wrapper (gymnasium.make's max_episode_steps).
        return s_next, r, terminated, False, {"prob": p}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        n_rows, n_cols = SHAPE
        lines = []
        for row in range(n_rows):
            cells = []
            for col in range(n_cols):
                s = row * n_cols + col
                cells.append(
                    "A" if s == self.s else "G" if s == self.goal_state_index else "S" if (row, col) == START else "."
                )
            lines.append(" ".join(cells))
        lines.append(" ".join(str(w) for w in WIND))
        return "\n".join(lines) + "\n"
