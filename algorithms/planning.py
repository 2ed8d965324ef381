"""Model-based RL and planning: Dyna-Q on the Dyna Maze, and Monte Carlo tree search with UCT.

Dyna-Q (Sutton & Barto 2018, section 8.2, the "Tabular Dyna-Q" box): every real step makes one
Q-learning update, records the transition in a model, then makes ``n`` more Q-learning updates on
transitions replayed from the model. On the Dyna Maze (Example 8.1, Figure 8.2: 6 x 9 cells,
gamma 0.95, alpha 0.1, epsilon 0.1, 30 runs) the steps per episode fall to the 14-step optimum
within a few episodes for n = 50, in about 5 for n = 5, and in about 25 for n = 0 (plain
Q-learning).

MCTS with UCT (Kocsis & Szepesvari 2006; Browne et al. 2012's survey, Algorithm 2): each
simulation walks down the tree choosing the child with the largest upper confidence bound
W/N + c sqrt(ln N_parent / N), adds one new node, plays randomly to the end, and backs the result
up. Tic-tac-toe is the test bed because it can be solved exactly: ``minimax_value`` is a negamax
with a memo, and the tests check it against the game's known numbers (5,478 reachable positions,
255,168 possible games, a draw with perfect play).

Pure Python on purpose: a tabular agent's steps and a tree's nodes are tiny, and plain lists and
dicts are faster than numpy for them.

Command line (one JSON object on the last line with ``--json``)::

    python -m algorithms.planning dyna --planning-steps 0 5 50 --runs 30 --episodes 50 --json
    python -m algorithms.planning mcts --board "X.O.X...." --simulations 2000 --json
    python -m algorithms.planning solve --json
    python -m algorithms.planning versus-minimax --simulations 2000 --games 20 --json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

# ---------------------------------------------------------------------------------------
# The Dyna Maze (S&B Example 8.1)
# ---------------------------------------------------------------------------------------

DYNA_MAZE: tuple[str, ...] = (
    ".......#G",
    "..#....#.",
    "S.#....#.",
    "..#......",
    ".....#...",
    ".........",
)
"""Figure 8.2's maze: S start, G goal, # walls. Moves are up, down, right, left; a move into a wall
or off the grid leaves the agent where it is. Reward 0 on every step except +1 on reaching G."""

MOVES: tuple[tuple[int, int], ...] = ((-1, 0), (1, 0), (0, 1), (0, -1))  # up, down, right, left


@dataclass(frozen=True)
class Maze:
    """A deterministic gridworld: states are cell indices row * width + col."""

    rows: tuple[str, ...] = DYNA_MAZE
    height: int = field(init=False)
    width: int = field(init=False)
    start: int = field(init=False)
    goal: int = field(init=False)

    def __post_init__(self) -> None:
        widths = {len(r) for r in self.rows}
        if len(widths) != 1:
            raise ValueError(f"every row of the maze must have the same width, got widths {sorted(widths)}")
        text = "".join(self.rows)
        if text.count("S") != 1 or text.count("G") != 1:
            raise ValueError("the maze needs exactly one S and one G")
        object.__setattr__(self, "height", len(self.rows))
        object.__setattr__(self, "width", widths.pop())
        object.__setattr__(self, "start", text.index("S"))
        object.__setattr__(self, "goal", text.index("G"))

    @property
    def num_states(self) -> int:
        return self.height * self.width

    def step(self, s: int, a: int) -> tuple[float, int, bool]:
        """(reward, next state, terminated) for action a in state s."""
        row, col = divmod(s, self.width)
        dr, dc = MOVES[a]
        r2, c2 = row + dr, col + dc
        if 0 <= r2 < self.height and 0 <= c2 < self.width and self.rows[r2][c2] != "#":
            s = r2 * self.width + c2
        if s == self.goal:
            return 1.0, s, True
        return 0.0, s, False

    def shortest_path(self) -> int:
        """Length of the shortest path from S to G (breadth-first search)."""
        frontier, seen, steps = [self.start], {self.start}, 0
        while frontier:
            if self.goal in frontier:
                return steps
            nxt = []
            for s in frontier:
                for a in range(len(MOVES)):
                    _, s2, _ = self.step(s, a)
                    if s2 not in seen:
                        seen.add(s2)
                        nxt.append(s2)
            frontier, steps = nxt, steps + 1
        raise ValueError("the goal cannot be reached from the start")


# ---------------------------------------------------------------------------------------
# Dyna-Q (S&B section 8.2)
# ---------------------------------------------------------------------------------------


def greedy(q_s: list[float], rng: random.Random) -> int:
    """argmax_a Q(s, a), ties broken uniformly at random (with Q = 0 everywhere, every action ties)."""
    best = max(q_s)
    ties = [a for a, v in enumerate(q_s) if v == best]
    return ties[0] if len(ties) == 1 else rng.choice(ties)


def q_update(
    Q: list[list[float]], s: int, a: int, r: float, s2: int, terminated: bool, alpha: float, gamma: float
) -> None:
    """Q(S, A) <- Q(S, A) + alpha [R + gamma max_a Q(S', a) - Q(S, A)], in place (S&B eq. 6.8).
    A terminal S' has no future: the target is R alone."""
    # lesson:start dyna-q-update
    target = r if terminated else r + gamma * max(Q[s2])
    Q[s][a] += alpha * (target - Q[s][a])
    # lesson:end dyna-q-update


@dataclass
class DynaModel:
    """The learned model of a deterministic environment: Model(S, A) = (R, S', terminated), and
    the states and actions seen so far, which planning samples from."""

    transitions: dict[tuple[int, int], tuple[float, int, bool]] = field(default_factory=dict)
    actions_seen: dict[int, list[int]] = field(default_factory=dict)
    states_seen: list[int] = field(default_factory=list)

    def record(self, s: int, a: int, r: float, s2: int, terminated: bool) -> None:
        # lesson:start dyna-model
        if (s, a) not in self.transitions:
            if s not in self.actions_seen:
                self.actions_seen[s] = []
                self.states_seen.append(s)
            self.actions_seen[s].append(a)
        self.transitions[(s, a)] = (r, s2, terminated)  # deterministic: the last outcome is the outcome
        # lesson:end dyna-model

    def sample(self, rng: random.Random) -> tuple[int, int, float, int, bool]:
        """A random previously observed state, a random action previously taken in it, and the model's
        prediction (step (f) of the box)."""
        s = rng.choice(self.states_seen)
        a = rng.choice(self.actions_seen[s])
        r, s2, terminated = self.transitions[(s, a)]
        return s, a, r, s2, terminated


def dyna_q_episode(
    maze: Maze,
    Q: list[list[float]],
    model: DynaModel,
    n: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    rng: random.Random,
    max_steps: int = 100_000,
) -> int:
    """One episode of tabular Dyna-Q from the start state; returns its number of steps."""
    s, steps = maze.start, 0
    while steps < max_steps:
        # lesson:start dyna-q-step
        a = rng.randrange(len(MOVES)) if rng.random() < epsilon else greedy(Q[s], rng)  # (b) epsilon-greedy
        r, s2, terminated = maze.step(s, a)  # (c) act in the real environment
        q_update(Q, s, a, r, s2, terminated, alpha, gamma)  # (d) direct RL
        model.record(s, a, r, s2, terminated)  # (e) model learning
        for _ in range(n):  # (f) planning: n updates on simulated experience
            ps, pa, pr, ps2, pterm = model.sample(rng)
            q_update(Q, ps, pa, pr, ps2, pterm, alpha, gamma)
        # lesson:end dyna-q-step
        steps += 1
        if terminated:
            break
        s = s2
    return steps


@dataclass(frozen=True)
class DynaConfig:
    planning_steps: tuple[int, ...] = (0, 5, 50)
    """The n of each curve: planning updates per real step (0 is plain one-step Q-learning)."""
    episodes: int = 50
    runs: int = 30
    """Independent runs averaged per curve (Figure 8.2 uses 30)."""
    alpha: float = 0.1
    gamma: float = 0.95
    epsilon: float = 0.1
    seed: int = 0


def dyna_q_curves(config: DynaConfig, maze: Maze | None = None) -> dict[int, list[float]]:
    """Mean steps per episode for each n in config.planning_steps: Figure 8.2's curves."""
    maze = maze or Maze()
    if config.runs < 1 or config.episodes < 1 or any(n < 0 for n in config.planning_steps):
        raise ValueError("runs and episodes must be at least 1 and planning steps at least 0")
    curves: dict[int, list[float]] = {}
    for n in config.planning_steps:
        totals = [0] * config.episodes
        for run in range(config.runs):
            rng = random.Random(config.seed * 1_000_003 + run)  # the same seeds for every n
            Q = [[0.0] * len(MOVES) for _ in range(maze.num_states)]
            model = DynaModel()
            for episode in range(config.episodes):
                totals[episode] += dyna_q_episode(maze, Q, model, n, config.alpha, config.gamma, config.epsilon, rng)
        curves[n] = [t / config.runs for t in totals]
    return curves


# ---------------------------------------------------------------------------------------
# Tic-tac-toe, solved exactly
# ---------------------------------------------------------------------------------------

Board = tuple[int, ...]
"""Nine cells, row by row: 1 for X, -1 for O, 0 for empty. X moves first."""

EMPTY: Board = (0,) * 9
LINES: tuple[tuple[int, int, int], ...] = (
    (0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6),
)  # fmt: skip


def parse_board(text: str) -> Board:
    """'X.O......' (row by row; X, O and . or -) -> a Board. Raises ValueError on a bad board."""
    cleaned = text.replace("/", "").replace(" ", "").upper()
    if len(cleaned) != 9 or any(c not in "XO.-" for c in cleaned):
        raise ValueError(f"a board is 9 cells of X, O or . written row by row, e.g. 'X.O.X....'; got {text!r}")
    board = tuple(1 if c == "X" else -1 if c == "O" else 0 for c in cleaned)
    x, o = board.count(1), board.count(-1)
    if x - o not in (0, 1):
        raise ValueError(f"X moves first, so X has as many marks as O or one more; got X {x}, O {o}")
    return board


def show_board(board: Board) -> str:
    cells = ["X" if v == 1 else "O" if v == -1 else "." for v in board]
    return "\n".join("".join(cells[r * 3 : r * 3 + 3]) for r in range(3))


def to_move(board: Board) -> int:
    """1 if X is to move, -1 if O is."""
    return 1 if board.count(1) == board.count(-1) else -1


def winner(board: Board) -> int | None:
    """1 or -1 if that player has three in a row, 0 for a full board without one, None while the game goes on."""
    for i, j, k in LINES:
        if board[i] != 0 and board[i] == board[j] == board[k]:
            return board[i]
    return 0 if 0 not in board else None


def legal_moves(board: Board) -> list[int]:
    return [] if winner(board) is not None else [i for i, v in enumerate(board) if v == 0]


def play(board: Board, move: int) -> Board:
    if board[move] != 0 or winner(board) is not None:
        raise ValueError(f"cell {move} cannot be played on\n{show_board(board)}")
    cells = list(board)
    cells[move] = to_move(board)
    return tuple(cells)


@cache
def minimax_value(board: Board) -> int:
    """The game's value for the player to move with perfect play on both sides: 1 win, 0 draw, -1 loss."""
    result = winner(board)
    if result is not None:
        return 0 if result == 0 else -1  # the player who just moved won: the player to move has lost
    return max(-minimax_value(play(board, m)) for m in legal_moves(board))


def minimax_move_values(board: Board) -> dict[int, int]:
    """Each legal move's value for the player making it: 1 wins, 0 draws, -1 loses with perfect play."""
    return {m: -minimax_value(play(board, m)) for m in legal_moves(board)}


def count_positions() -> tuple[int, int]:
    """(distinct positions reachable in play, including the empty board; complete games).

    The number of games from a position depends on the position only, so a memo over positions
    counts all 255,168 games while visiting each of the 5,478 positions once."""
    games: dict[Board, int] = {}

    def count(board: Board) -> int:
        if board not in games:
            moves = legal_moves(board)
            games[board] = 1 if not moves else sum(count(play(board, m)) for m in moves)
        return games[board]

    total = count(EMPTY)
    return len(games), total


# ---------------------------------------------------------------------------------------
# Monte Carlo tree search with UCT
# ---------------------------------------------------------------------------------------


def uct_score(w: float, n: int, parent_n: int, c: float) -> float:
    """The UCB1 score of a child in UCT: mean result W/N plus the exploration bonus
    c sqrt(ln N_parent / N) (Kocsis & Szepesvari 2006). An unvisited child scores infinity."""
    # lesson:start uct-score
    if n == 0:
        return math.inf
    return w / n + c * math.sqrt(math.log(parent_n) / n)
    # lesson:end uct-score


@dataclass(eq=False)
class Node:
    """A position in the tree. ``w`` sums the results of simulations through this node from the point
    of view of the player who made the move into it (the one choosing it from the parent)."""

    board: Board
    parent: Node | None = None
    move: int | None = None
    n: int = 0
    w: float = 0.0
    children: list[Node] = field(default_factory=list)
    untried: list[int] = field(default_factory=list)


def rollout(board: Board, rng: random.Random) -> int:
    """Play uniformly random moves to the end; return the winner (1, -1) or 0 for a draw."""
    while (result := winner(board)) is None:
        board = play(board, rng.choice(legal_moves(board)))
    return result


def mcts(board: Board, simulations: int, c: float = math.sqrt(2), seed: int = 0) -> Node:
    """UCT search from ``board``; returns the root, whose children hold the visit counts and results."""
    if legal_moves(board) == []:
        raise ValueError(f"the game is over on this board; nothing to search\n{show_board(board)}")
    if simulations < 1:
        raise ValueError(f"simulations must be at least 1, got {simulations}")
    rng = random.Random(seed)
    root = Node(board, untried=legal_moves(board))
    for _ in range(simulations):
        # lesson:start mcts-simulation
        node = root
        while not node.untried and node.children:  # 1. selection: descend by the UCT score
            node = max(node.children, key=lambda ch: uct_score(ch.w, ch.n, node.n, c))
        if node.untried:  # 2. expansion: add one child
            move = node.untried.pop(rng.randrange(len(node.untried)))
            child = Node(play(node.board, move), parent=node, move=move)
            child.untried = legal_moves(child.board)
            node.children.append(child)
            node = child
        result = rollout(node.board, rng)  # 3. simulation: random play to the end
        while node is not None:  # 4. backpropagation: +1 for the player who moved into the node
            mover = -to_move(node.board)
            node.n += 1
            node.w += 1.0 if result == mover else 0.5 if result == 0 else 0.0
            node = node.parent
        # lesson:end mcts-simulation
    return root


def best_move(root: Node) -> int:
    """The most visited child: the robust choice once the search is done (Browne et al. 2012, 3.3.3)."""
    return max(root.children, key=lambda ch: (ch.n, ch.w)).move  # type: ignore[return-value]


def visit_table(root: Node) -> list[dict[str, Any]]:
    """One row per legal move: visits, mean result for the mover, and the exact minimax value."""
    exact = minimax_move_values(root.board)
    return [
        {"move": ch.move, "visits": ch.n, "mean": ch.w / ch.n if ch.n else None, "minimax": exact[ch.move]}
        for ch in sorted(root.children, key=lambda ch: ch.move)  # type: ignore[arg-type, return-value]
    ]


def versus_minimax(simulations: int, games: int, seed: int = 0) -> dict[str, int]:
    """MCTS against a perfect minimax player (random among its equally good moves), alternating who
    starts. Returns the counts of MCTS wins, draws and losses."""
    rng = random.Random(seed)
    tally = {"wins": 0, "draws": 0, "losses": 0}
    for game in range(games):
        mcts_player = 1 if game % 2 == 0 else -1
        board = EMPTY
        while (result := winner(board)) is None:
            if to_move(board) == mcts_player:
                move = best_move(mcts(board, simulations, seed=rng.randrange(2**31)))
            else:
                values = minimax_move_values(board)
                best = max(values.values())
                move = rng.choice([m for m, v in values.items() if v == best])
            board = play(board, move)
        key = "draws" if result == 0 else "wins" if result == mcts_player else "losses"
        tally[key] += 1
    return tally


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m algorithms.planning", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dyna = commands.add_parser("dyna", help="Dyna-Q on the Dyna Maze: mean steps per episode (S&B Figure 8.2)")
    dyna.add_argument("--planning-steps", type=int, nargs="+", default=[0, 5, 50])
    dyna.add_argument("--episodes", type=int, default=50)
    dyna.add_argument("--runs", type=int, default=30)
    dyna.add_argument("--alpha", type=float, default=0.1)
    dyna.add_argument("--gamma", type=float, default=0.95)
    dyna.add_argument("--epsilon", type=float, default=0.1)
    dyna.add_argument("--seed", type=int, default=0)
    search = commands.add_parser("mcts", help="UCT search on a tic-tac-toe position: visits per move")
    search.add_argument("--board", default=".........", help="9 cells of X, O or . row by row, e.g. 'X.O.X....'")
    search.add_argument("--simulations", type=int, default=1000)
    search.add_argument("--c", type=float, default=math.sqrt(2), help="exploration constant of UCT")
    search.add_argument("--seed", type=int, default=0)
    commands.add_parser("solve", help="solve tic-tac-toe exactly: positions, games, value")
    versus = commands.add_parser("versus-minimax", help="MCTS against a perfect minimax player")
    versus.add_argument("--simulations", type=int, default=2000)
    versus.add_argument("--games", type=int, default=10)
    versus.add_argument("--seed", type=int, default=0)
    for sub in (dyna, search, versus, commands.choices["solve"]):
        sub.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    out: dict[str, Any] = {"command": args.command}
    try:
        if args.command == "dyna":
            config = DynaConfig(
                tuple(args.planning_steps), args.episodes, args.runs, args.alpha, args.gamma, args.epsilon, args.seed
            )
            curves = dyna_q_curves(config)
            maze = Maze()
            print(f"Dyna Maze {maze.height} x {maze.width}, shortest path {maze.shortest_path()} steps", end="")
            print(f", {config.runs} runs")
            for n, curve in curves.items():
                shown = ", ".join(f"{v:.0f}" for v in curve[:10])
                print(f"n = {n:3d}: steps per episode 1-10: {shown}; mean of the last 10: {sum(curve[-10:]) / 10:.1f}")
            out |= {
                "shortest_path": maze.shortest_path(),
                "runs": config.runs,
                "curves": {str(n): c for n, c in curves.items()},
            }
        elif args.command == "mcts":
            board = parse_board(args.board)
            root = mcts(board, args.simulations, args.c, args.seed)
            table = visit_table(root)
            print(show_board(board))
            print(f"{'X' if to_move(board) == 1 else 'O'} to move; {args.simulations} simulations")
            for row in table:
                mean = "-" if row["mean"] is None else f"{row['mean']:.3f}"
                print(f"move {row['move']}: {row['visits']:5d} visits, mean {mean}, minimax {row['minimax']:+d}")
            out |= {"board": args.board, "best_move": best_move(root), "moves": table}
        elif args.command == "solve":
            positions, games = count_positions()
            value = minimax_value(EMPTY)
            print(f"{positions} positions reachable, {games} possible games, value of the empty board {value}")
            out |= {"positions": positions, "games": games, "value": minimax_value(EMPTY)}
        else:
            tally = versus_minimax(args.simulations, args.games, args.seed)
            print(f"MCTS ({args.simulations} simulations) against minimax, {args.games} games: {tally}")
            out |= tally | {"simulations": args.simulations, "games": args.games}
    except ValueError as error:
        parser.error(str(error))
    out["seconds"] = round(time.perf_counter() - started, 2)
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
