"""Finite MDPs and dynamic programming: policy evaluation, policy iteration, value iteration.

Sutton & Barto, *Reinforcement Learning: An Introduction* (2nd ed., 2018), chapters 3 and 4.
Notation follows the book: a model p(s'|s, a) is the tensor ``P[s, a, s']`` of shape (S, A, S),
the expected reward r(s, a) (eq. 3.5) is ``R[s, a]`` of shape (S, A), a state-value function is
``V`` of shape (S,), an action-value function is ``Q`` of shape (S, A), and a policy pi(a|s) is
``pi`` of shape (S, A) whose rows sum to 1. A deterministic policy is an integer array of
shape (S,) holding one action per state.

Terminal states are absorbing and pay nothing (P[s, a, s] = 1, R[s, a] = 0), the book's own
convention (section 3.4): their value stays 0, so a transition into one does not bootstrap,
and every backup below works on plain (P, R) with no extra mask.

Run ``python -m algorithms.mdp --help`` for the command line.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FiniteMDP:
    """A finite MDP (S&B section 3.1), given by its model: the four-argument p reduced to P and R.

    The arrays are copied to float64 / bool and made read-only, so one MDP can be shared by
    every lesson and quiz without one of them changing it under another.
    """

    P: np.ndarray
    """p(s'|s, a) (S&B eq. 3.4), shape (S, A, S); each P[s, a, :] sums to 1."""
    R: np.ndarray
    """r(s, a) = E[R_{t+1} | S_t = s, A_t = a] (S&B eq. 3.5), shape (S, A)."""
    gamma: float
    """Discount rate, 0 <= gamma <= 1. gamma = 1 needs every evaluated policy to terminate."""
    terminal: np.ndarray | None = None
    """Terminal-state mask, shape (S,) bool; None (the default) becomes all False."""
    grid_shape: tuple[int, int] | None = None
    """(rows, cols) when the states are the cells of a grid, numbered row by row."""
    state_labels: tuple[str, ...] | None = None
    """A short display name per state ("A", "H", ...), or None."""
    action_labels: tuple[str, ...] | None = None
    """A display name per action ("up", "left", ...), or None."""
    name: str = ""

    def __post_init__(self) -> None:
        P = _read_only(np.array(self.P, dtype=np.float64))
        R = _read_only(np.array(self.R, dtype=np.float64))
        if P.ndim != 3 or P.shape[0] != P.shape[2]:
            raise ValueError(f"P must have shape (S, A, S), got {P.shape}")
        S, A, _ = P.shape
        if R.shape != (S, A):
            raise ValueError(f"R must have shape (S, A) = ({S}, {A}) to match P, got {R.shape}")
        _check_gamma(self.gamma)
        _check_transitions(P)
        if not np.all(np.isfinite(R)):
            raise ValueError("R must be finite")
        terminal = np.zeros(S, dtype=bool) if self.terminal is None else np.array(self.terminal)
        if terminal.shape != (S,) or terminal.dtype != bool:
            raise ValueError(
                f"terminal must be a bool mask of shape (S,) = ({S},), got {terminal.dtype} {terminal.shape}"
            )
        _check_terminal_absorbing(P, R, terminal)
        if self.grid_shape is not None and (len(self.grid_shape) != 2 or self.grid_shape[0] * self.grid_shape[1] != S):
            raise ValueError(f"grid_shape {self.grid_shape} must be (rows, cols) with rows * cols = S = {S}")
        for field, labels, n in (("state_labels", self.state_labels, S), ("action_labels", self.action_labels, A)):
            if labels is not None and len(labels) != n:
                raise ValueError(f"{field} must have {n} entries, got {len(labels)}")
        object.__setattr__(self, "P", P)
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "gamma", float(self.gamma))
        object.__setattr__(self, "terminal", _read_only(terminal))
        if self.grid_shape is not None:
            object.__setattr__(self, "grid_shape", (int(self.grid_shape[0]), int(self.grid_shape[1])))
        for field in ("state_labels", "action_labels"):
            if getattr(self, field) is not None:
                object.__setattr__(self, field, tuple(str(x) for x in getattr(self, field)))

    @property
    def num_states(self) -> int:
        return self.P.shape[0]

    @property
    def num_actions(self) -> int:
        return self.P.shape[1]

    def to_grid(self, x: np.ndarray) -> np.ndarray:
        """Per-state values (S, ...) laid out on the grid (rows, cols, ...); unchanged without a grid."""
        x = np.asarray(x)
        return x if self.grid_shape is None else x.reshape(self.grid_shape + x.shape[1:])


def _read_only(x: np.ndarray) -> np.ndarray:
    x.setflags(write=False)
    return x


def _check_gamma(gamma: float) -> None:
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")


def _check_transitions(P: np.ndarray) -> None:
    """Each P[s, a, :] must be a probability distribution over next states."""
    if not np.all(np.isfinite(P)):
        raise ValueError("P must be finite")
    if np.any(P < 0):
        s, a, s_next = np.argwhere(P < 0)[0]
        raise ValueError(f"P must be non-negative, but P[{s}, {a}, {s_next}] = {P[s, a, s_next]:.6g}")
    sums = P.sum(axis=2)  # (S, A)
    bad = ~np.isclose(sums, 1.0, rtol=0.0, atol=1e-8)
    if np.any(bad):
        s, a = np.argwhere(bad)[0]
        others = int(bad.sum()) - 1
        raise ValueError(
            f"P[s, a, :] must sum to 1 over next states s', but P[{s}, {a}, :] sums to {sums[s, a]:.6g}"
            + (f" ({others} other (s, a) pairs are off too)" if others else "")
        )


def _check_terminal_absorbing(P: np.ndarray, R: np.ndarray, terminal: np.ndarray) -> None:
    absorbing = absorbing_states(P, R)
    wrong = np.flatnonzero(terminal & ~absorbing)
    if wrong.size:
        s = wrong[0]
        raise ValueError(
            f"terminal state {s} must be absorbing with zero reward: P[{s}, a, {s}] = 1 and R[{s}, a] = 0 "
            "for every action a"
        )


def absorbing_states(P: np.ndarray, R: np.ndarray) -> np.ndarray:
    """States that loop to themselves under every action and pay nothing, shape (S,) bool.

    Such a state has value 0 under every policy and every gamma: it *is* a terminal state in
    S&B's convention (section 3.4), whatever it is called.
    """
    S = P.shape[0]
    stays = P[np.arange(S), :, np.arange(S)]  # (S, A): P[s, a, s]
    return np.all(np.isclose(stays, 1.0, rtol=0.0, atol=1e-12), axis=1) & np.all(R == 0.0, axis=1)


# ---------------------------------------------------------------------------------------------
# Gridworlds from the book
# ---------------------------------------------------------------------------------------------

GRID_ACTIONS = ("up", "right", "down", "left")
"""Action order of our gridworlds: clockwise from up, as in Gymnasium's CliffWalking."""
_GRID_MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])  # (A, 2): (d_row, d_col) per action


def _grid_next_states(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each move lands on a rows x cols grid. Returns next_state (S, A) and off_grid (S, A).

    A move off the grid leaves the agent where it was (S&B Example 3.5 and Example 4.1).
    """
    row, col = np.divmod(np.arange(rows * cols), cols)  # (S,), (S,)
    next_row = row[:, None] + _GRID_MOVES[:, 0]  # (S, A)
    next_col = col[:, None] + _GRID_MOVES[:, 1]  # (S, A)
    off_grid = (next_row < 0) | (next_row >= rows) | (next_col < 0) | (next_col >= cols)
    here = np.broadcast_to(np.arange(rows * cols)[:, None], off_grid.shape)
    next_state = np.where(off_grid, here, next_row * cols + next_col)
    return next_state, off_grid


def _deterministic_P(next_state: np.ndarray) -> np.ndarray:
    """The one-hot transition tensor (S, A, S) of a deterministic model next_state (S, A)."""
    S, A = next_state.shape
    P = np.zeros((S, A, S))
    P[np.arange(S)[:, None], np.arange(A)[None, :], next_state] = 1.0
    return P


def gridworld_5x5(
    gamma: float = 0.9, reward_a: float = 10.0, reward_b: float = 5.0, off_grid_reward: float = -1.0
) -> FiniteMDP:
    """The 5x5 gridworld of S&B Example 3.5 (Figure 3.2), solved in Example 3.8 (Figure 3.5).

    Every action from A = (0, 1) pays +10 and moves to A' = (4, 1); every action from B = (0, 3)
    pays +5 and moves to B' = (2, 3). A move off the grid pays -1 and leaves the state unchanged;
    every other move pays 0. The task is continuing: there is no terminal state. The rewards are
    parameters (the book's by default) so a demo can ask "what if B paid more than A?".
    """
    rows, cols = 5, 5
    next_state, off_grid = _grid_next_states(rows, cols)
    R = np.where(off_grid, off_grid_reward, 0.0)  # (S, A)
    A_, A_prime, B_, B_prime = 0 * cols + 1, 4 * cols + 1, 0 * cols + 3, 2 * cols + 3
    next_state[A_, :], R[A_, :] = A_prime, reward_a
    next_state[B_, :], R[B_, :] = B_prime, reward_b
    labels = [""] * (rows * cols)
    labels[A_], labels[A_prime], labels[B_], labels[B_prime] = "A", "A'", "B", "B'"
    return FiniteMDP(
        P=_deterministic_P(next_state),
        R=R,
        gamma=gamma,
        grid_shape=(rows, cols),
        state_labels=tuple(labels),
        action_labels=GRID_ACTIONS,
        name="gridworld-5x5",
    )


def gridworld_4x4(gamma: float = 1.0) -> FiniteMDP:
    """The 4x4 gridworld of S&B Example 4.1 (Figure 4.1).

    States 1..14 are non-terminal; the two shaded corners (0, 0) and (3, 3) are one terminal
    state in the book, two absorbing cells here. Every transition pays -1, and a move off the
    grid leaves the state unchanged. The task is undiscounted (gamma = 1) and episodic.
    """
    rows, cols = 4, 4
    S = rows * cols
    next_state, _ = _grid_next_states(rows, cols)
    terminal = np.zeros(S, dtype=bool)
    terminal[[0, S - 1]] = True
    next_state[terminal, :] = np.flatnonzero(terminal)[:, None]  # absorbing
    R = np.where(terminal[:, None], 0.0, -1.0) * np.ones((S, len(GRID_ACTIONS)))  # (S, A)
    labels = tuple("T" if terminal[s] else str(s) for s in range(S))
    return FiniteMDP(
        P=_deterministic_P(next_state),
        R=R,
        gamma=gamma,
        terminal=terminal,
        grid_shape=(rows, cols),
        state_labels=labels,
        action_labels=GRID_ACTIONS,
        name="gridworld-4x4",
    )


# ---------------------------------------------------------------------------------------------
# Gymnasium toy-text environments
# ---------------------------------------------------------------------------------------------

_GYM_ACTION_LABELS = {
    # From each environment's source in gymnasium/envs/toy_text/.
    "FrozenLakeEnv": ("left", "down", "right", "up"),
    "CliffWalkingEnv": ("up", "right", "down", "left"),
    "TaxiEnv": ("south", "north", "east", "west", "pickup", "dropoff"),
}

Transition = tuple[float, int, float, bool]
"""One entry of a Gymnasium toy-text model: (probability, next_state, reward, terminated)."""


def from_transition_lists(
    model: dict[int, dict[int, list[Transition]]],
    num_states: int,
    num_actions: int,
    gamma: float,
    initial_states: Sequence[int] | None = None,
    **display: Any,
) -> FiniteMDP:
    """A FiniteMDP from a Gymnasium toy-text model ``P[s][a] = [(prob, s', reward, terminated), ...]``.

    Gymnasium marks *transitions* as terminated; here a state is terminal when some transition
    terminates in it, and it is made absorbing with zero reward, so nothing bootstraps past a
    real end. That is exact unless a transition enters such a state without terminating. When
    ``initial_states`` is given, that is allowed from states no episode can reach (Taxi's
    "passenger already at the destination" states, which its docs call unreachable) and an
    error otherwise; without ``initial_states`` it is always an error.
    ``display`` passes grid_shape, state_labels, action_labels and name to FiniteMDP.
    """
    S, A = num_states, num_actions
    P = np.zeros((S, A, S))
    R = np.zeros((S, A))
    terminal = np.zeros(S, dtype=bool)
    for s in range(S):
        for a in range(A):
            for prob, s_next, reward, terminated in model[s][a]:
                P[s, a, s_next] += prob
                R[s, a] += prob * reward  # r(s, a) = sum_{s', r} p(s', r|s, a) r  (S&B eq. 3.5)
                terminal[s_next] |= bool(terminated) and prob > 0
    conflicts = {
        s
        for s in range(S)
        if not terminal[s]
        for a in range(A)
        for prob, s_next, _, terminated in model[s][a]
        if prob > 0 and terminal[s_next] and not terminated
    }
    if initial_states is not None and conflicts:
        conflicts &= _reachable_states(model, S, A, initial_states)
    if conflicts:
        raise ValueError(
            f"state {min(conflicts)} moves without terminating into a state that other transitions "
            "terminate in; such a model has no terminal-state form"
        )
    P[terminal] = 0.0
    P[terminal, :, terminal] = 1.0  # absorbing ...
    R[terminal] = 0.0  # ... and free: V(terminal) = 0 under every policy
    return FiniteMDP(P=P, R=R, gamma=gamma, terminal=terminal, **display)


def _reachable_states(
    model: dict[int, dict[int, list[Transition]]], S: int, A: int, initial_states: Sequence[int]
) -> set[int]:
    """States some policy can visit before the episode ends, by breadth-first search."""
    seen = set(int(s) for s in initial_states)
    frontier = list(seen)
    while frontier:
        s = frontier.pop()
        for a in range(A):
            for prob, s_next, _, terminated in model[s][a]:
                if prob > 0 and not terminated and s_next not in seen:
                    seen.add(s_next)
                    frontier.append(s_next)
    return seen


def from_gymnasium(env_id: str, gamma: float, name: str = "", **make_kwargs: Any) -> FiniteMDP:
    """A FiniteMDP from the model ``env.unwrapped.P`` of a Gymnasium toy-text environment.

    FrozenLake-v1 (slippery by default), CliffWalking-v1 and Taxi-v4 expose their model this way.
    The TimeLimit wrapper of ``gymnasium.make`` is not part of the model: the MDP is the
    untruncated one.
    """
    import gymnasium as gym  # lazy: only these builders need it

    env = gym.make(env_id, **make_kwargs).unwrapped
    if not hasattr(env, "P"):
        raise ValueError(f"{env_id} does not expose its model as env.unwrapped.P")
    S, A = int(env.observation_space.n), int(env.action_space.n)
    initial = getattr(env, "initial_state_distrib", None)
    initial_states = None if initial is None else np.flatnonzero(np.asarray(initial) > 0).tolist()
    grid_shape = None
    state_labels = None
    desc = np.asarray(getattr(env, "desc", []))
    if desc.ndim == 2 and desc.size == S:  # FrozenLake: one map letter S, F, H or G per state
        grid_shape = (desc.shape[0], desc.shape[1])
        state_labels = tuple(c.decode() for c in desc.ravel())
    elif hasattr(env, "shape") and int(np.prod(env.shape)) == S:  # CliffWalking
        grid_shape = (int(env.shape[0]), int(env.shape[1]))
    elif hasattr(env, "decode"):  # Taxi: (taxi_row, taxi_col, passenger_location, destination)
        state_labels = tuple(str(tuple(int(x) for x in env.decode(s))) for s in range(S))
    mdp = from_transition_lists(
        env.P,
        S,
        A,
        gamma,
        initial_states=initial_states,
        grid_shape=grid_shape,
        state_labels=state_labels,
        action_labels=_GYM_ACTION_LABELS.get(type(env).__name__),
        name=name or env_id,
    )
    env.close()
    return mdp


ENVS: dict[str, tuple[Callable[[float], FiniteMDP], float]] = {
    # name: (builder taking gamma, default gamma)
    "gridworld-5x5": (gridworld_5x5, 0.9),  # S&B Example 3.5
    "gridworld-4x4": (gridworld_4x4, 1.0),  # S&B Example 4.1
    "frozen-lake": (lambda gamma: from_gymnasium("FrozenLake-v1", gamma, name="frozen-lake"), 0.99),
    # Discounted by default although both are usually undiscounted: with gamma = 1 the random
    # policy's values run to about -65,000 (cliff) and -13,000 (taxi), too far for sweeps to reach.
    "cliff-walking": (lambda gamma: from_gymnasium("CliffWalking-v1", gamma, name="cliff-walking"), 0.9),
    "taxi": (lambda gamma: from_gymnasium("Taxi-v4", gamma, name="taxi"), 0.9),
}


def make_mdp(name: str, gamma: float | None = None) -> FiniteMDP:
    """One of the named MDPs in ENVS, with its default gamma unless one is given."""
    if name not in ENVS:
        raise ValueError(f"unknown MDP {name!r}; choose one of {', '.join(ENVS)}")
    builder, default_gamma = ENVS[name]
    return builder(default_gamma if gamma is None else gamma)


# ---------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------


def uniform_policy(num_states: int, num_actions: int) -> np.ndarray:
    """The equiprobable random policy pi(a|s) = 1/|A| (S&B Example 3.5), shape (S, A)."""
    return np.full((num_states, num_actions), 1.0 / num_actions)


def one_hot_policy(policy: np.ndarray, num_actions: int) -> np.ndarray:
    """A deterministic policy (S,) of action indices as pi(a|s), shape (S, A)."""
    return np.eye(num_actions)[np.asarray(policy, dtype=np.int64)]


# ---------------------------------------------------------------------------------------------
# Bellman backups
# ---------------------------------------------------------------------------------------------


def action_values(P: np.ndarray, R: np.ndarray, V: np.ndarray, gamma: float) -> np.ndarray:
    """q(s, a) = r(s, a) + gamma sum_s' p(s'|s, a) v(s') (S&B eq. 4.6), shape (S, A)."""
    return R + gamma * P @ V  # (S, A, S) @ (S,) -> (S, A)


def bellman_expectation_backup(P: np.ndarray, R: np.ndarray, pi: np.ndarray, V: np.ndarray, gamma: float) -> np.ndarray:
    """One synchronous expectation backup of every state (S&B eq. 4.5), shape (S,).

    v_{k+1}(s) = sum_a pi(a|s) [ r(s, a) + gamma sum_s' p(s'|s, a) v_k(s') ].
    P: (S, A, S), R: (S, A), pi: (S, A), V: (S,).
    """
    P, R, V = np.asarray(P, dtype=np.float64), np.asarray(R, dtype=np.float64), np.asarray(V, dtype=np.float64)
    # lesson:start expectation-backup
    Q = R + gamma * P @ V  # (S, A): one-step lookahead with the old values v_k
    V_new = np.sum(pi * Q, axis=1)  # (S,): averaged over the policy's actions
    # lesson:end expectation-backup
    return V_new


def bellman_optimality_backup(P: np.ndarray, R: np.ndarray, V: np.ndarray, gamma: float) -> np.ndarray:
    """One synchronous optimality backup of every state (S&B eq. 4.10), shape (S,).

    v_{k+1}(s) = max_a [ r(s, a) + gamma sum_s' p(s'|s, a) v_k(s') ].
    P: (S, A, S), R: (S, A), V: (S,).
    """
    P, R, V = np.asarray(P, dtype=np.float64), np.asarray(R, dtype=np.float64), np.asarray(V, dtype=np.float64)
    # lesson:start optimality-backup
    Q = R + gamma * P @ V  # (S, A): one-step lookahead with the old values v_k
    V_new = np.max(Q, axis=1)  # (S,): the best action, instead of the policy's average
    # lesson:end optimality-backup
    return V_new


def in_place_expectation_sweep(P: np.ndarray, R: np.ndarray, pi: np.ndarray, V: np.ndarray, gamma: float) -> np.ndarray:
    """One in-place (Gauss-Seidel) sweep of eq. 4.5 over states 0, 1, ..., S-1, shape (S,).

    As in S&B's box "Iterative Policy Evaluation" (section 4.1): each backup already uses the
    new values of the states swept before it, which usually converges in fewer sweeps. The
    input V is not modified.
    """
    V = np.array(V, dtype=np.float64)
    # lesson:start policy-evaluation-sweep
    for s in range(len(V)):
        V[s] = pi[s] @ (R[s] + gamma * P[s] @ V)  # P[s]: (A, S), so P[s] @ V: (A,)
    # lesson:end policy-evaluation-sweep
    return V


# ---------------------------------------------------------------------------------------------
# Policy evaluation (S&B section 4.1)
# ---------------------------------------------------------------------------------------------


class PolicyEvaluation(NamedTuple):
    V: np.ndarray
    """v_pi, or its last estimate when max_sweeps ran out, shape (S,)."""
    history: list[np.ndarray]
    """v_0, v_1, ..., v_k: the estimate after each sweep, v_0 first (zeros unless V0 was given)."""
    sweeps: int
    converged: bool
    """Whether the last sweep changed no value by theta or more."""


def policy_evaluation(
    P: np.ndarray,
    R: np.ndarray,
    pi: np.ndarray,
    gamma: float,
    theta: float = 1e-10,
    max_sweeps: int = 10_000,
    in_place: bool = False,
    V0: np.ndarray | None = None,
    on_sweep: Callable[[int, float], None] | None = None,
) -> PolicyEvaluation:
    """Iterative policy evaluation (S&B section 4.1): repeat eq. 4.5 until no value moves by theta.

    Synchronous sweeps (two arrays, v_{k+1} from v_k: the k of Figure 4.1) by default, in-place
    Gauss-Seidel sweeps with ``in_place=True``. Stops when max |v_{k+1} - v_k| < theta or after
    max_sweeps sweeps (theta = 0 runs exactly max_sweeps). on_sweep(k, delta) sees every sweep.
    """
    _check_gamma(gamma)
    sweep = in_place_expectation_sweep if in_place else bellman_expectation_backup
    V = np.zeros(P.shape[0]) if V0 is None else np.array(V0, dtype=np.float64)
    history = [V]
    converged = False
    for k in range(1, max_sweeps + 1):
        # lesson:start policy-evaluation-loop
        V_new = sweep(P, R, pi, V, gamma)
        delta = float(np.max(np.abs(V_new - V)))  # the book's Delta
        V = V_new
        # lesson:end policy-evaluation-loop
        history.append(V)
        if on_sweep is not None:
            on_sweep(k, delta)
        if delta < theta:
            converged = True
            break
    return PolicyEvaluation(V=V, history=history, sweeps=len(history) - 1, converged=converged)


def exact_policy_evaluation(P: np.ndarray, R: np.ndarray, pi: np.ndarray, gamma: float) -> np.ndarray:
    """v_pi as the solution of the linear system v = r_pi + gamma P_pi v (S&B eq. 4.4), shape (S,).

    Terminal (absorbing, zero-reward) states have v = 0 and are left out of the system: with
    gamma = 1 they would make I - P_pi singular. With gamma = 1 every other state must reach
    one of them under pi, or v_pi is not finite (ValueError).
    """
    _check_gamma(gamma)
    S = P.shape[0]
    P_pi = np.einsum("sa,sat->st", pi, P)  # (S, S): p(s'|s) under pi
    R_pi = np.sum(pi * R, axis=1)  # (S,): r_pi(s)
    live = ~absorbing_states(P, R)  # (S,)
    if gamma == 1.0:
        _check_terminates(P_pi, live)
    P_live = P_pi[np.ix_(live, live)]  # (n, n): moves between non-terminal states
    V = np.zeros(S)
    # lesson:start exact-evaluation
    V[live] = np.linalg.solve(np.eye(len(P_live)) - gamma * P_live, R_pi[live])  # (I - gamma P_pi) v = r_pi
    # lesson:end exact-evaluation
    return V


def _check_terminates(P_pi: np.ndarray, live: np.ndarray) -> None:
    """With gamma = 1, v_pi is finite only if every live state reaches a terminal one under pi."""
    reaches_end = ~live  # (S,)
    while True:
        grown = reaches_end | (P_pi[:, reaches_end].sum(axis=1) > 0)
        if np.array_equal(grown, reaches_end):
            break
        reaches_end = grown
    if not reaches_end.all():
        s = int(np.flatnonzero(~reaches_end)[0])
        raise ValueError(
            f"with gamma = 1 the policy must terminate, but from state {s} it never reaches a terminal "
            "state; use gamma < 1 or another policy"
        )


# ---------------------------------------------------------------------------------------------
# Policy improvement (S&B section 4.2)
# ---------------------------------------------------------------------------------------------


def greedy_actions(P: np.ndarray, R: np.ndarray, V: np.ndarray, gamma: float, tol: float = 1e-9) -> np.ndarray:
    """Every action that maximizes q(s, a) (eq. 4.6), as a mask of shape (S, A), e.g. to draw arrows.

    Actions within tol of the best count as tied: float noise must not break a tie that is
    exact on paper.
    """
    Q = action_values(P, R, V, gamma)  # (S, A)
    return np.max(Q, axis=1, keepdims=True) - Q <= tol  # (S, A): within tol of the best


def greedy_policy(P: np.ndarray, R: np.ndarray, V: np.ndarray, gamma: float, tol: float = 1e-9) -> np.ndarray:
    """pi'(s) = argmax_a q(s, a) (S&B eq. 4.9), ties to the lowest action index, shape (S,) int.

    Actions within tol of the best count as tied, as in greedy_actions.
    """
    P, R, V = np.asarray(P, dtype=np.float64), np.asarray(R, dtype=np.float64), np.asarray(V, dtype=np.float64)
    # lesson:start greedy-policy
    Q = R + gamma * P @ V  # (S, A)
    best = np.max(Q, axis=1, keepdims=True) - Q <= tol  # (S, A): the maximizing actions
    policy = np.argmax(best, axis=1)  # (S,): the first True in each row, so ties go to the lowest index
    # lesson:end greedy-policy
    return policy


class PolicyIteration(NamedTuple):
    V: np.ndarray
    """v_* (the value of the final policy), shape (S,)."""
    policy: np.ndarray
    """pi_*, greedy in V with ties to the lowest index, shape (S,) int."""
    iterations: int
    """How many policies were evaluated, the initial one included."""
    history: list[np.ndarray]
    """v_{pi_0}, v_{pi_1}, ...: the value of each evaluated policy."""
    policies: list[np.ndarray]
    """pi_1, pi_2, ...: the greedy policy after each evaluation, shape (S,) each."""


def policy_iteration(
    P: np.ndarray,
    R: np.ndarray,
    gamma: float,
    pi0: np.ndarray | None = None,
    max_iterations: int = 1_000,
) -> PolicyIteration:
    """Policy iteration (S&B section 4.3): evaluate, improve greedily, until the policy is stable.

    Starts from pi0, the equiprobable random policy by default (a deterministic policy (S,) or
    pi(a|s) (S, A)), and evaluates each policy
    exactly (exact_policy_evaluation). The policy is stable when it only takes actions that are
    already greedy: comparing with the argmax alone could cycle forever between equally good
    policies (S&B Exercise 4.4).
    """
    S, A = P.shape[:2]
    pi = uniform_policy(S, A) if pi0 is None else np.asarray(pi0)
    if pi.ndim == 1:
        pi = one_hot_policy(pi, A)
    history: list[np.ndarray] = []
    policies: list[np.ndarray] = []
    for _ in range(max_iterations):
        # lesson:start policy-iteration-loop
        V = exact_policy_evaluation(P, R, pi, gamma)  # policy evaluation
        best = greedy_actions(P, R, V, gamma)  # (S, A)
        policy = np.argmax(best, axis=1)  # policy improvement, ties to the lowest index
        stable = bool(np.all(best[pi > 0]))  # pi already acts greedily everywhere
        pi = one_hot_policy(policy, A)
        # lesson:end policy-iteration-loop
        history.append(V)
        policies.append(policy)
        if stable:
            break
    return PolicyIteration(V=V, policy=policy, iterations=len(history), history=history, policies=policies)


# ---------------------------------------------------------------------------------------------
# Value iteration (S&B section 4.4)
# ---------------------------------------------------------------------------------------------


class ValueIteration(NamedTuple):
    V: np.ndarray
    """The estimate of v_* after the last sweep, shape (S,)."""
    policy: np.ndarray
    """The greedy policy in V (eq. 4.9, ties to the lowest index), shape (S,) int."""
    sweeps: int
    history: list[np.ndarray]
    """v_0, v_1, ..., v_k: the estimate after each sweep, v_0 first."""
    converged: bool
    """Whether the last sweep changed no value by theta or more."""


def value_iteration(
    P: np.ndarray,
    R: np.ndarray,
    gamma: float,
    theta: float = 1e-10,
    max_sweeps: int = 10_000,
    V0: np.ndarray | None = None,
    on_sweep: Callable[[int, float], None] | None = None,
) -> ValueIteration:
    """Value iteration (S&B section 4.4): repeat eq. 4.10 until no value moves by theta, then act greedily.

    Synchronous sweeps; stops when max |v_{k+1} - v_k| < theta or after max_sweeps sweeps
    (theta = 0 runs exactly max_sweeps). on_sweep(k, delta) sees every sweep.
    """
    _check_gamma(gamma)
    V = np.zeros(P.shape[0]) if V0 is None else np.array(V0, dtype=np.float64)
    history = [V]
    converged = False
    # lesson:start value-iteration-loop
    for k in range(1, max_sweeps + 1):
        V_new = bellman_optimality_backup(P, R, V, gamma)
        delta = float(np.max(np.abs(V_new - V)))  # the book's Delta
        V = V_new
        history.append(V)
        if on_sweep is not None:
            on_sweep(k, delta)
        if delta < theta:
            converged = True
            break
    policy = greedy_policy(P, R, V, gamma)  # output a deterministic policy pi ~ pi_*
    # lesson:end value-iteration-loop
    return ValueIteration(V=V, policy=policy, sweeps=len(history) - 1, history=history, converged=converged)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

_ARROWS = {"up": "^", "north": "^", "right": ">", "east": ">", "down": "v", "south": "v", "left": "<", "west": "<"}
_DECIMALS = 4  # JSON floats are rounded to this many decimals


def _as_json_values(mdp: FiniteMDP, x: np.ndarray) -> list[Any]:
    """Per-state numbers as nested lists in grid shape (flat without a grid), floats rounded."""
    if np.issubdtype(x.dtype, np.floating):
        x = np.round(x, _DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    return mdp.to_grid(x).tolist()


def _print_table(mdp: FiniteMDP, V: np.ndarray, policy: np.ndarray | None) -> None:
    if mdp.grid_shape is None:
        return
    for row in mdp.to_grid(V):
        print("  " + " ".join(f"{v:8.3f}" for v in row))
    if policy is not None and mdp.action_labels is not None:
        names = [_ARROWS.get(mdp.action_labels[a], mdp.action_labels[a]) for a in policy]
        names = ["." if t else n for n, t in zip(names, mdp.terminal, strict=True)]
        for row in np.asarray(names, dtype=object).reshape(mdp.grid_shape):
            print("  " + " ".join(f"{n:>3}" for n in row))


def _progress(label: str) -> Callable[[int, float], None]:
    def report(k: int, delta: float) -> None:
        if k <= 10 or k % 100 == 0:
            print(f"{label} {k}: max |V_k - V_(k-1)| = {delta:.3g}")

    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m algorithms.mdp",
        description="Dynamic programming on finite MDPs (Sutton & Barto, chapter 4).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for command, help_text in (
        ("evaluate", "iterative evaluation of the equiprobable random policy"),
        ("value-iteration", "value iteration, then the greedy policy"),
        ("policy-iteration", "policy iteration from the equiprobable random policy"),
    ):
        sub = commands.add_parser(command, help=help_text)
        sub.add_argument("--env", choices=list(ENVS), default="gridworld-5x5")
        sub.add_argument("--gamma", type=float, default=None, help="discount (default: the env's own)")
        sub.add_argument("--json", action="store_true", help="print one JSON object as the last line")
        if command != "policy-iteration":
            sub.add_argument(
                "--theta", type=float, default=None, help="stop when no value moves by theta (default 1e-10)"
            )
            sub.add_argument(
                "--sweeps",
                type=int,
                default=None,
                help="run exactly this many sweeps (the k of Figure 4.1), unless --theta is given",
            )
        if command == "evaluate":
            sub.add_argument("--in-place", action="store_true", help="in-place (Gauss-Seidel) sweeps")
            sub.add_argument("--exact", action="store_true", help="solve the linear system instead of sweeping")
    args = parser.parse_args(argv)

    try:
        mdp = make_mdp(args.env, args.gamma)
    except ValueError as error:  # e.g. gamma outside [0, 1]
        parser.error(str(error))
    P, R, gamma = mdp.P, mdp.R, mdp.gamma
    print(f"{mdp.name}: {mdp.num_states} states, {mdp.num_actions} actions, gamma = {gamma}")
    out: dict[str, Any] = {"env": args.env, "gamma": gamma}
    if args.command == "evaluate" and args.exact:
        V, policy = exact_policy_evaluation(P, R, uniform_policy(mdp.num_states, mdp.num_actions), gamma), None
        print("solved (I - gamma P_pi) V = R_pi")
    elif args.command == "policy-iteration":
        result = policy_iteration(P, R, gamma)
        for i, (V_i, policy_i) in enumerate(zip(result.history, result.policies, strict=True)):
            changed = (
                "" if i == 0 else f", greedy action changed in {np.sum(policy_i != result.policies[i - 1])} states"
            )
            print(f"iteration {i + 1}: mean V = {V_i.mean():.4g}{changed}")
        print(f"policy stable after {result.iterations} evaluations")
        V, policy = result.V, result.policy
        out |= {"iterations": result.iterations}
    else:
        theta = args.theta if args.theta is not None else (0.0 if args.sweeps is not None else 1e-10)
        max_sweeps = args.sweeps if args.sweeps is not None else 10_000
        if args.command == "evaluate":
            pi = uniform_policy(mdp.num_states, mdp.num_actions)
            result = policy_evaluation(
                P, R, pi, gamma, theta, max_sweeps, in_place=args.in_place, on_sweep=_progress("sweep")
            )
            V, policy = result.V, None
        else:
            result = value_iteration(P, R, gamma, theta, max_sweeps, on_sweep=_progress("sweep"))
            V, policy = result.V, result.policy
        state = "converged" if result.converged else "stopped"
        print(f"{state} after {result.sweeps} sweeps")
        out |= {"sweeps": result.sweeps, "converged": result.converged}
    _print_table(mdp, V, policy)
    out["V"] = _as_json_values(mdp, V)
    if policy is not None:
        out["policy"] = _as_json_values(mdp, policy)
        out["actions"] = list(mdp.action_labels or [str(a) for a in range(mdp.num_actions)])
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
