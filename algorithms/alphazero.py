"""AlphaZero-style self-play on tic-tac-toe (Silver et al. 2018, "A general reinforcement learning
algorithm that masters chess, shogi and Go through self-play", and its Methods).

One small network f_theta(s) = (p, v) gives move probabilities and the value of a position for
the player to move. A PUCT search (no rollouts) uses p as priors and v at the leaves; the network
plays itself with a search at every move; each position is stored with the search's visit
distribution pi and the game's result z; the network is trained on

    l = (z - v)^2 - pi^T log p        (+ weight decay, here in the optimizer)

and the next searches use the improved network. The eight symmetries of the board multiply the
data (the paper used them for Go). The rules and the exact solver come from algorithms/planning.py;
"perfect play" is checked by ``losing_choices``: every line, the agent as X and as O against all
opponent replies, counting the positions where it picks a losing move although a non-losing one exists.

The defaults (1,200 games) reach 0 losing choices, for the search at 50 to 400 simulations and for the
network alone, on seeds 0, 1 and 2 (docs/benchmarks.md). Three choices, each from a paper or a known
implementation, got there from the earlier 600 games with 3 sampled moves per game (search 0 to 5
losing choices, network alone 10 to 26); the first, with the extra games, does most of the work:

- Every self-play move sampled in proportion to the visit counts (temperature 1), as alpha-zero-general
  (Nair et al., github.com/suragnair/alpha-zero-general) does for its first 15 moves, more than a game
  of tic-tac-toe has; AlphaZero sampled the first 30 moves of Go. The positions a perfect player must
  answer (forks after an opponent's odd move) then appear in the data.
- The value target is the average of the game's result z and the root search's value q (Abrams,
  "Lessons From AlphaZero (part 4): Improving the Training Target", Oracle Developers, 2018):
  with sampled moves, z is noisy (a won position lost to a later sampled blunder), q much less so.
- The learning rate is cut tenfold for the last third of the games, as AlphaGo Zero's stepped schedule
  (Silver et al. 2017, Methods) cut it twice.

Command line (one JSON object on the last line with ``--json``)::

    python -m algorithms.alphazero --seed 0 --json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from algorithms.contract import configure_cpu_threads
from algorithms.planning import EMPTY, Board, legal_moves, minimax_move_values, play, to_move, winner

VALUE_TARGETS = ("z", "q", "mean")


@dataclass(frozen=True)
class AlphaZeroConfig:
    games: int = 1200
    """Self-play games in all."""
    simulations: int = 100
    """PUCT simulations per self-play move (100 made the trained search better than 50 with more games)."""
    c_puct: float = 1.5
    """Weight of the prior term in PUCT."""
    dirichlet_alpha: float = 0.3
    """Root noise Dir(alpha) mixed into the priors in self-play, for exploration (the paper: 0.3 for chess)."""
    noise_fraction: float = 0.25
    """Share of the root prior replaced by the noise."""
    temperature_moves: int = 9
    """Moves of each self-play game sampled in proportion to visit counts; later ones take the most visited.
    9 is the whole game (alpha-zero-general samples the first 15 moves, more than tic-tac-toe has): with 3,
    self-play rarely left the main lines, and the lines a perfect player must answer went unseen."""
    value_target: str = "mean"
    """What v regresses to: "z" (the game's result, as in the paper), "q" (the root search's value) or
    "mean" (their average, as in Oracle's "Lessons From AlphaZero", part 4, for Connect Four)."""
    games_per_update: int = 10
    """Self-play games between two rounds of training."""
    steps_per_update: int = 40
    """Gradient steps per round, on minibatches from the replay window."""
    batch_size: int = 64
    replay_positions: int = 5000
    """The most recent positions (after symmetries) kept for training."""
    lr: float = 0.003
    lr_drop_after: float = 0.67
    """Share of the games after which the learning rate is cut tenfold (AlphaGo Zero's stepped schedule;
    1.0: never)."""
    weight_decay: float = 1e-4
    hidden: int = 64
    seed: int = 0
    eval_games: int = 20
    """Games against the minimax player after training, alternating who starts (0: none)."""
    eval_simulations: int = 200
    """PUCT simulations per move when playing the minimax player (no noise, most visited move)."""


# ---------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------


class PolicyValueNet(nn.Module):
    """f_theta(s) = (logits over the 9 cells, v in [-1, 1]) from the mover's point of view."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(18, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.policy = nn.Linear(hidden, 9)
        self.value = nn.Sequential(nn.Linear(hidden, 1), nn.Tanh())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.body(x)
        return self.policy(h), self.value(h).squeeze(-1)


def encode(board: Board) -> np.ndarray:
    """Two planes from the point of view of the player to move: its own marks, then the opponent's. (18,)"""
    me = to_move(board)
    cells = np.asarray(board, dtype=np.float32)
    return np.concatenate([(cells == me), (cells == -me)]).astype(np.float32)


Cache = dict[Board, tuple[dict[int, float], float]]
"""Network outputs by position, valid while the weights do not change (one round of self-play)."""


def evaluate_position(net: PolicyValueNet, board: Board, cache: Cache | None = None) -> tuple[dict[int, float], float]:
    """Priors over the legal moves (softmax of the masked logits) and the value for the player to move."""
    if cache is not None and board in cache:
        return cache[board]
    with torch.inference_mode():
        logits, value = net(torch.from_numpy(encode(board))[None])
    moves = legal_moves(board)
    masked = logits[0, moves]
    priors = torch.softmax(masked, dim=0).tolist()
    out = dict(zip(moves, priors, strict=True)), float(value[0])
    if cache is not None:
        cache[board] = out
    return out


# ---------------------------------------------------------------------------------------
# PUCT search
# ---------------------------------------------------------------------------------------


@dataclass(eq=False)
class PNode:
    """A position; ``w`` sums values from the point of view of the player who moved into it."""

    board: Board
    prior: float = 1.0
    n: int = 0
    w: float = 0.0
    children: dict[int, PNode] = field(default_factory=dict)

    @property
    def q(self) -> float:
        return self.w / self.n if self.n else 0.0


def puct_score(parent: PNode, child: PNode, c_puct: float) -> float:
    """Q(s, a) + c P(s, a) sqrt(N(s)) / (1 + N(s, a)) (the paper's selection rule, with a constant c)."""
    # lesson:start puct-score
    return child.q + c_puct * child.prior * math.sqrt(parent.n) / (1 + child.n)
    # lesson:end puct-score


def puct_search(
    net: PolicyValueNet,
    board: Board,
    simulations: int,
    c_puct: float,
    rng: np.random.Generator | None = None,
    dirichlet_alpha: float = 0.3,
    noise_fraction: float = 0.0,
    cache: Cache | None = None,
) -> PNode:
    """Run the search from ``board``; with noise_fraction > 0 the root's priors get Dirichlet noise."""
    root = PNode(board)
    priors, _ = evaluate_position(net, board, cache)
    if noise_fraction > 0 and rng is not None:
        noise = rng.dirichlet([dirichlet_alpha] * len(priors))
        priors = {
            m: (1 - noise_fraction) * p + noise_fraction * e for (m, p), e in zip(priors.items(), noise, strict=True)
        }
    root.children = {m: PNode(play(board, m), prior=p) for m, p in priors.items()}
    root.n = 1
    for _ in range(simulations):
        # lesson:start puct-simulation
        node, path = root, [root]
        while node.children:  # selection by PUCT down to a leaf
            node = max(node.children.values(), key=lambda ch, parent=node: puct_score(parent, ch, c_puct))
            path.append(node)
        result = winner(node.board)
        if result is None:  # expansion and evaluation by the network: no rollout
            priors, value = evaluate_position(net, node.board, cache)
            node.children = {m: PNode(play(node.board, m), prior=p) for m, p in priors.items()}
            value_for_mover = -value  # v is for the player to move; the node's mover is the other one
        else:  # a finished game: the exact result
            value_for_mover = 0.0 if result == 0 else 1.0  # the player who just moved won
        for visited in reversed(path):  # backup, flipping the point of view at every level
            visited.n += 1
            visited.w += value_for_mover
            value_for_mover = -value_for_mover
        # lesson:end puct-simulation
    return root


def visit_distribution(root: PNode) -> np.ndarray:
    """pi: the root's visit counts over the 9 cells, normalised. (9,)"""
    pi = np.zeros(9, dtype=np.float32)
    for move, child in root.children.items():
        pi[move] = child.n
    return pi / pi.sum()


def root_value(root: PNode) -> float:
    """The search's value of the root for the player to move: its children's mean backed-up value."""
    return sum(ch.w for ch in root.children.values()) / max(1, sum(ch.n for ch in root.children.values()))


# ---------------------------------------------------------------------------------------
# Self-play and training
# ---------------------------------------------------------------------------------------

_ROT = (6, 3, 0, 7, 4, 1, 8, 5, 2)  # cell i of the rotated board comes from cell _ROT[i]
_FLIP = (2, 1, 0, 5, 4, 3, 8, 7, 6)


def symmetries() -> list[tuple[int, ...]]:
    """The 8 permutations of the cells under the board's rotations and reflections."""
    perms, p = [], tuple(range(9))
    for _ in range(4):
        perms += [p, tuple(p[i] for i in _FLIP)]
        p = tuple(p[i] for i in _ROT)
    return perms


def self_play_game(
    net: PolicyValueNet, config: AlphaZeroConfig, rng: np.random.Generator, cache: Cache | None = None
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """One game of the network against itself: (encoded position, pi, value target for the player to move)
    per move and symmetry; the target is z, the root's q or their mean (config.value_target)."""
    board, history = EMPTY, []
    while winner(board) is None:
        root = puct_search(
            net, board, config.simulations, config.c_puct, rng, config.dirichlet_alpha, config.noise_fraction, cache
        )
        pi = visit_distribution(root)
        history.append((board, pi, root_value(root)))
        move = int(rng.choice(9, p=pi)) if len(history) <= config.temperature_moves else int(np.argmax(pi))
        board = play(board, move)
    result = winner(board)
    samples = []
    for position, pi, q in history:
        # lesson:start value-target
        z = 0.0 if result == 0 else (1.0 if result == to_move(position) else -1.0)
        target = {"z": z, "q": q, "mean": (z + q) / 2}[config.value_target]  # q: the root search's value
        # lesson:end value-target
        for perm in symmetries():
            permuted = tuple(position[i] for i in perm)
            samples.append((encode(permuted), pi[list(perm)], target))
    return samples


def alphazero_loss(logits: Tensor, value: Tensor, pi: Tensor, z: Tensor) -> Tensor:
    """(z - v)^2 - pi^T log p, averaged over the batch (Silver et al. 2018, eq. 1, without the L2
    term, which the optimizer's weight decay carries). logits, pi: (B, 9); value, z: (B,)."""
    # lesson:start alphazero-loss
    value_loss = (z - value).pow(2)
    policy_loss = -(pi * torch.log_softmax(logits, dim=-1)).sum(-1)
    return (value_loss + policy_loss).mean()
    # lesson:end alphazero-loss


def search_player(net: PolicyValueNet, simulations: int, c_puct: float) -> Callable[[Board], int]:
    """Play the most visited move of a search without noise (the network's weights stay fixed)."""
    cache: Cache = {}
    return lambda board: int(np.argmax(visit_distribution(puct_search(net, board, simulations, c_puct, cache=cache))))


def play_minimax(player: Callable[[Board], int], games: int, rng: random.Random) -> dict[str, int]:
    """The player against a perfect minimax player (random among its best moves), alternating who starts."""
    tally = {"wins": 0, "draws": 0, "losses": 0}
    for game in range(games):
        side = 1 if game % 2 == 0 else -1
        board = EMPTY
        while (result := winner(board)) is None:
            if to_move(board) == side:
                move = player(board)
            else:
                values = minimax_move_values(board)
                best = max(values.values())
                move = rng.choice([m for m, v in values.items() if v == best])
            board = play(board, move)
        tally["draws" if result == 0 else "wins" if result == side else "losses"] += 1
    return tally


def policy_player(net: PolicyValueNet) -> Callable[[Board], int]:
    """Play the network's most probable legal move, with no search at all."""

    def choose(board: Board) -> int:
        priors, _ = evaluate_position(net, board)
        return max(priors, key=priors.__getitem__)

    return choose


def losing_choices(player: Callable[[Board], int]) -> list[Board]:
    """Every position, over all opponent replies with the player as X and as O, where the player picks a
    move that loses against perfect play although a move that does not lose exists. Empty means the
    player never loses to anyone: perfect play in the sense that matters for a drawn game."""
    mistakes: list[Board] = []
    seen: set[Board] = set()

    def walk(board: Board, side: int) -> None:
        if board in seen or winner(board) is not None:
            return
        seen.add(board)
        if to_move(board) == side:
            values = minimax_move_values(board)
            move = player(board)
            if values[move] < 0 <= max(values.values()):
                mistakes.append(board)
            walk(play(board, move), side)
        else:
            for move in legal_moves(board):
                walk(play(board, move), side)

    for side in (1, -1):
        seen.clear()
        walk(EMPTY, side)
    return mistakes


def train(
    config: AlphaZeroConfig, on_update: Callable[[dict[str, float]], None] | None = None
) -> tuple[PolicyValueNet, dict[str, float]]:
    """Self-play and training for config.games games; returns the network and final metrics."""
    if config.games < 1 or config.simulations < 1:
        raise ValueError("games and simulations must be at least 1")
    if config.value_target not in VALUE_TARGETS:
        raise ValueError(f"value_target must be one of {', '.join(VALUE_TARGETS)}, not {config.value_target!r}")
    if not 0 < config.lr_drop_after <= 1:
        raise ValueError(f"lr_drop_after must be in (0, 1], not {config.lr_drop_after}")
    configure_cpu_threads()  # a tiny network: extra threads only add contention
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = PolicyValueNet(config.hidden)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    replay: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=config.replay_positions)
    started, cpu_started = time.perf_counter(), time.process_time()
    metrics: dict[str, float] = {}
    games = 0
    while games < config.games:
        net.eval()
        cache: Cache = {}  # the weights are fixed for this round
        for _ in range(min(config.games_per_update, config.games - games)):
            replay.extend(self_play_game(net, config, rng, cache))
            games += 1
        net.train()
        if games > config.lr_drop_after * config.games:
            for group in optimizer.param_groups:
                group["lr"] = config.lr / 10
        losses = []
        for _ in range(config.steps_per_update):
            batch = [replay[i] for i in rng.integers(len(replay), size=config.batch_size)]
            x = torch.from_numpy(np.stack([b[0] for b in batch]))
            pi = torch.from_numpy(np.stack([b[1] for b in batch]))
            z = torch.tensor([b[2] for b in batch], dtype=torch.float32)
            logits, value = net(x)
            loss = alphazero_loss(logits, value, pi, z)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        metrics = {
            "games": float(games),
            "loss": float(np.mean(losses)),
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - started,
        }
        if on_update is not None:
            on_update(metrics)
    net.eval()
    metrics["cpu_seconds"] = time.process_time() - cpu_started  # training alone; wall time counts load too
    if config.eval_games:
        tally = play_minimax(
            search_player(net, config.eval_simulations, config.c_puct), config.eval_games, random.Random(config.seed)
        )
        metrics |= {f"versus_minimax/{k}": float(v) for k, v in tally.items()}
        metrics["losing_choices/search"] = float(
            len(losing_choices(search_player(net, config.eval_simulations, config.c_puct)))
        )
        metrics["losing_choices/network"] = float(len(losing_choices(policy_player(net))))
    metrics["seconds"] = time.perf_counter() - started
    return net, metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m algorithms.alphazero", description=__doc__.splitlines()[0])
    defaults = AlphaZeroConfig()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = vars(parser.parse_args(argv))
    as_json = args.pop("json")
    try:
        config = AlphaZeroConfig(**args)
        _, metrics = train(
            config,
            on_update=lambda m: print(
                f"games {m['games']:.0f}  loss {m['loss']:.3f}  {m['seconds']:.0f} s", flush=True
            ),
        )
    except ValueError as error:
        parser.error(str(error))
    if config.eval_games:
        tally = ", ".join(f"{k.split('/')[1]} {v:.0f}" for k, v in metrics.items() if k.startswith("versus"))
        print(f"against minimax over {config.eval_games} games: {tally}")
        print(
            f"losing choices over every line: search ({config.eval_simulations} simulations) "
            f"{metrics['losing_choices/search']:.0f}, network alone {metrics['losing_choices/network']:.0f}"
        )
    if as_json:
        print(json.dumps(metrics | {"config": asdict(config)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
