"""Test cases for the implement drills: seeded random inputs plus the edge cases that catch real bugs.

A generator takes a numpy Generator and returns a `CaseSet`: the cases (keyword arguments and a
note saying what the case checks), what the function returns, and the gradients to compare.
Edge cases come first, so the first failing case a learner sees is usually the instructive one
(an episode that ends, a single step, zero advantages, a ratio far outside the clip range).
Only numpy is imported at module level: torch is imported when a torch drill's cases are built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Returns = Literal["array", "int", "tensor"]


@dataclass(frozen=True)
class Case:
    args: dict[str, Any]
    note: str
    grad: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseSet:
    cases: list[Case]
    returns: Returns
    rtol: float = 1e-5
    atol: float = 1e-6
    extra: dict[str, Any] = field(default_factory=dict)


Generator = Callable[[np.random.Generator], CaseSet]
CASE_GENERATORS: dict[str, Generator] = {}


def generator(name: str) -> Callable[[Generator], Generator]:
    def register(fn: Generator) -> Generator:
        CASE_GENERATORS[name] = fn
        return fn

    return register


def _r(rng: np.random.Generator, *shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return np.round(rng.uniform(low, high, size=shape), 3)


def _t(values: Any, requires_grad: bool = False, dtype: str = "float64") -> Any:
    import torch

    tensor = torch.tensor(np.asarray(values), dtype=getattr(torch, dtype))
    return tensor.requires_grad_(requires_grad)


# ---------------------------------------------------------------------------------------------
# Returns and advantages
# ---------------------------------------------------------------------------------------------


@generator("discounted-returns")
def _discounted_returns(rng: np.random.Generator) -> CaseSet:
    cases = [
        Case({"rewards": np.array([1.0]), "gamma": 0.9}, "a single step: G_0 is just r_1"),
        Case({"rewards": np.array([0.0, 0.0, 1.0]), "gamma": 0.5}, "one reward at the end, discounted back"),
        Case({"rewards": np.array([1.0, 2.0, 3.0]), "gamma": 0.0}, "gamma = 0: each return is its own reward"),
        Case({"rewards": np.array([1.0, -1.0, 2.0, 0.5]), "gamma": 1.0}, "gamma = 1: plain sums to the end"),
    ]
    for length in (5, 12):
        cases.append(Case({"rewards": _r(rng, length), "gamma": float(rng.choice([0.9, 0.95, 0.99]))}, "random"))
    return CaseSet(cases, "array")


@generator("gae")
def _gae(rng: np.random.Generator) -> CaseSet:
    def case(
        rewards: list[float], values: list[float], dones: list[float], gamma: float, lam: float, note: str
    ) -> Case:
        return Case(
            {
                "rewards": np.array(rewards, dtype=float),
                "values": np.array(values, dtype=float),
                "dones": np.array(dones, dtype=float),
                "gamma": gamma,
                "lam": lam,
            },
            note,
        )

    cases = [
        case([1.0], [0.5, 2.0], [0.0], 0.9, 0.95, "a single step that bootstraps from V(s_T)"),
        case([1.0], [0.5, 2.0], [1.0], 0.9, 0.95, "a single step that ends the episode: no bootstrap"),
        case([1.0, 0.0, 2.0], [0.5, 0.2, 0.1, 3.0], [0.0, 1.0, 0.0], 0.9, 0.95, "an episode ends mid-rollout"),
        case(
            [1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0], 0.5, 0.0, "lam = 0: the advantage is the TD error"
        ),
        case([1.0, 1.0, 1.0], [0.3, 0.2, 0.1, 5.0], [0.0, 0.0, 0.0], 1.0, 1.0, "gamma = lam = 1: return minus value"),
    ]
    for T in (6, 10):
        dones = (rng.random(T) < 0.2).astype(float)
        cases.append(
            case(list(_r(rng, T)), list(_r(rng, T + 1)), list(dones), float(rng.choice([0.9, 0.99])), 0.95, "random")
        )
    return CaseSet(cases, "array")


# ---------------------------------------------------------------------------------------------
# Dynamic programming and tabular TD
# ---------------------------------------------------------------------------------------------


def _random_P(rng: np.random.Generator, S: int, A: int, deterministic: bool = False) -> np.ndarray:
    if deterministic:
        P = np.zeros((S, A, S))
        P[np.arange(S)[:, None], np.arange(A)[None, :], rng.integers(0, S, size=(S, A))] = 1.0
        return P
    return np.round(rng.dirichlet(np.ones(S), size=(S, A)), 6)


@generator("bellman-optimality-backup")
def _bellman(rng: np.random.Generator) -> CaseSet:
    P1 = np.zeros((2, 1, 2))
    P1[0, 0, 1] = P1[1, 0, 1] = 1.0  # state 1 absorbing
    cases = [
        Case({"P": P1, "R": np.array([[1.0], [0.0]]), "V": np.array([0.0, 0.0]), "gamma": 0.9}, "one action: no max"),
        Case(
            {"P": _random_P(rng, 3, 2, True), "R": _r(rng, 3, 2), "V": _r(rng, 3), "gamma": 0.0},
            "gamma = 0: the best immediate reward",
        ),
        Case(
            {"P": _random_P(rng, 3, 2, True), "R": np.zeros((3, 2)), "V": np.array([1.0, 5.0, -2.0]), "gamma": 0.9},
            "deterministic moves, no rewards: the best next state wins",
        ),
    ]
    for S, A in ((3, 2), (4, 3)):
        cases.append(Case({"P": _random_P(rng, S, A), "R": _r(rng, S, A), "V": _r(rng, S), "gamma": 0.9}, "random"))
    return CaseSet(cases, "array")


@generator("q-learning-update")
def _q_learning(rng: np.random.Generator) -> CaseSet:
    def case(Q: np.ndarray, s: int, a: int, r: float, s_next: int, done: bool, alpha: float, note: str) -> Case:
        args = {"Q": Q, "s": s, "a": a, "r": r, "s_next": s_next, "done": done, "alpha": alpha, "gamma": 0.9}
        return Case(args, note)

    Q = np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
    cases = [
        case(Q, 0, 0, 1.0, 1, False, 0.5, "bootstraps from the max over the next state's actions"),
        case(Q, 0, 1, 1.0, 1, True, 0.5, "the episode ended: no bootstrap"),
        case(Q, 1, 0, 0.0, 1, False, 1.0, "a self-loop (s = s'): the target uses the old Q(s', .)"),
        case(Q, 2, 1, -1.0, 0, False, 0.0, "alpha = 0: nothing changes"),
    ]
    for _ in range(2):
        Qr = _r(rng, 4, 3)
        cases.append(
            case(
                Qr,
                int(rng.integers(4)),
                int(rng.integers(3)),
                float(_r(rng, 1)[0]),
                int(rng.integers(4)),
                False,
                0.1,
                "random",
            )
        )
    return CaseSet(cases, "array")


# ---------------------------------------------------------------------------------------------
# Bandits
# ---------------------------------------------------------------------------------------------


@generator("epsilon-greedy")
def _epsilon_greedy(rng: np.random.Generator) -> CaseSet:
    q = np.array([0.2, 1.5, 1.5, -0.3])
    cases = [
        Case({"q": q, "epsilon": 0.1, "u": 0.5, "k": 3}, "exploit; a tie goes to the lowest index"),
        Case({"q": q, "epsilon": 0.1, "u": 0.05, "k": 3}, "u < epsilon: explore, take arm k"),
        Case({"q": q, "epsilon": 0.1, "u": 0.1, "k": 0}, "u == epsilon is not below it: exploit"),
        Case({"q": q, "epsilon": 0.0, "u": 0.0, "k": 0}, "epsilon = 0 never explores"),
        Case({"q": np.zeros(3), "epsilon": 1.0, "u": 0.99, "k": 2}, "epsilon = 1 always explores"),
    ]
    for _ in range(3):
        cases.append(
            Case(
                {"q": _r(rng, 5), "epsilon": 0.2, "u": float(np.round(rng.random(), 3)), "k": int(rng.integers(5))},
                "random",
            )
        )
    return CaseSet(cases, "int")


@generator("ucb-action")
def _ucb(rng: np.random.Generator) -> CaseSet:
    cases = [
        Case(
            {"q": np.array([1.0, 5.0, 0.0]), "n": np.array([3, 2, 0]), "t": 5, "c": 2.0}, "an untried arm comes first"
        ),
        Case(
            {"q": np.array([1.0, 5.0, 0.0]), "n": np.array([0, 2, 0]), "t": 3, "c": 2.0},
            "untried arms: the lowest index",
        ),
        Case({"q": np.array([1.0, 0.5]), "n": np.array([10, 1]), "t": 11, "c": 0.0}, "c = 0 is greedy"),
        Case({"q": np.array([1.0, 0.5]), "n": np.array([10, 1]), "t": 11, "c": 2.0}, "the bonus of a rarely tried arm"),
        Case({"q": np.array([0.3, 0.3]), "n": np.array([4, 4]), "t": 8, "c": 1.0}, "equal scores: the lowest index"),
        Case({"q": np.array([0.2, 0.7]), "n": np.array([1, 1]), "t": 1, "c": 3.0}, "t = 1: ln t = 0, no bonus"),
    ]
    for _ in range(3):
        n = rng.integers(1, 20, size=5)
        cases.append(Case({"q": _r(rng, 5), "n": n, "t": int(n.sum()), "c": 2.0}, "random"))
    return CaseSet(cases, "int")


# ---------------------------------------------------------------------------------------------
# Policy gradients, PPO, RLHF (torch)
# ---------------------------------------------------------------------------------------------


@generator("reinforce-loss")
def _reinforce(rng: np.random.Generator) -> CaseSet:
    def case(log_probs: list[float], rewards: list[float], gamma: float, note: str) -> Case:
        return Case(
            {"log_probs": _t(log_probs, requires_grad=True), "rewards": np.array(rewards, dtype=float), "gamma": gamma},
            note,
            grad=("log_probs",),
        )

    cases = [
        case([-0.5], [1.0], 0.99, "a single step: -G_0 log pi"),
        case([-0.1, -1.2, -0.7], [0.0, 0.0, 1.0], 0.9, "weights are returns G_t, not the rewards r_t"),
        case([-0.3, -0.3], [1.0, 1.0], 0.0, "gamma = 0: each step weighs its own reward"),
        case([-0.2, -2.0, -0.4], [0.0, 0.0, 0.0], 0.99, "no reward: zero loss and zero gradient"),
    ]
    for T in (5, 9):
        cases.append(case(list(-rng.uniform(0.05, 2.0, T).round(3)), list(_r(rng, T)), 0.99, "random"))
    return CaseSet(cases, "tensor")


@generator("ppo-clip-loss")
def _ppo(rng: np.random.Generator) -> CaseSet:
    def case(logp: list[float], logp_old: list[float], adv: list[float], clip_eps: float, note: str) -> Case:
        args = {"logp": _t(logp, True), "logp_old": _t(logp_old), "adv": _t(adv), "clip_eps": clip_eps}
        return Case(args, note, grad=("logp",))

    cases = [
        case([-1.0], [-1.0], [2.0], 0.2, "ratio 1: the plain surrogate"),
        case([-1.0, -0.5], [-1.0, -0.5], [0.0, 0.0], 0.2, "zero advantages: zero loss"),
        case([0.0, 0.0], [-2.0, -2.0], [1.0, -1.0], 0.2, "a large ratio (e^2): clipped for A > 0, not for A < 0"),
        case([-2.0, -2.0], [0.0, 0.0], [1.0, -1.0], 0.2, "a small ratio (e^-2): clipped for A < 0, not for A > 0"),
        case([-0.9], [-1.0], [-2.0], 0.2, "inside the clip range with a negative advantage"),
    ]
    for B in (6, 16):
        logp_old = -rng.uniform(0.1, 3.0, B).round(3)
        logp = (logp_old + rng.normal(0, 0.3, B)).round(3)
        cases.append(case(list(logp), list(logp_old), list(_r(rng, B)), 0.2, "random"))
    return CaseSet(cases, "tensor")


@generator("bradley-terry-loss")
def _bradley_terry(rng: np.random.Generator) -> CaseSet:
    def case(chosen: list[float], rejected: list[float], note: str, dtype: str = "float64") -> Case:
        return Case(
            {"r_chosen": _t(chosen, True, dtype), "r_rejected": _t(rejected, False, dtype)}, note, grad=("r_chosen",)
        )

    cases = [
        case([0.7], [0.7], "equal rewards: ln 2"),
        case([2.1, 0.0], [0.4, 1.0], "the chosen reward should exceed the rejected one"),
        case([-60.0], [60.0], "a huge wrong-way margin in float32: log(sigmoid(x)) underflows", "float32"),
    ]
    for B in (4, 10):
        cases.append(case(list(_r(rng, B, low=-3, high=3)), list(_r(rng, B, low=-3, high=3)), "random"))
    return CaseSet(cases, "tensor", rtol=1e-4, atol=1e-5)


@generator("dpo-loss")
def _dpo(rng: np.random.Generator) -> CaseSet:
    def case(pc: list[float], pr: list[float], rc: list[float], rr: list[float], beta: float, note: str) -> Case:
        args = {
            "pi_chosen": _t(pc, True),
            "pi_rejected": _t(pr, True),
            "ref_chosen": _t(rc),
            "ref_rejected": _t(rr),
            "beta": beta,
        }
        return Case(args, note, grad=("pi_chosen", "pi_rejected"))

    cases = [
        case([-5.0, -7.0], [-6.0, -4.0], [-5.0, -7.0], [-6.0, -4.0], 0.1, "policy equals reference: ln 2"),
        case([-3.0], [-9.0], [-5.0], [-5.0], 0.1, "the policy already prefers the chosen answer"),
        case([-3.0], [-9.0], [-5.0], [-5.0], 5.0, "a large beta"),
    ]
    for B in (3, 8):
        ref_c, ref_r = -rng.uniform(5, 40, B).round(2), -rng.uniform(5, 40, B).round(2)
        pc, pr = (ref_c + rng.normal(0, 2, B)).round(2), (ref_r + rng.normal(0, 2, B)).round(2)
        cases.append(case(list(pc), list(pr), list(ref_c), list(ref_r), 0.1, "random"))
    return CaseSet(cases, "tensor")


@generator("kl-shaped-reward")
def _kl_shaped(rng: np.random.Generator) -> CaseSet:
    def case(reward: Any, logp: Any, logp_ref: Any, beta: float, note: str) -> Case:
        return Case({"reward": _t(reward), "logp": _t(logp), "logp_ref": _t(logp_ref), "beta": beta}, note)

    cases = [
        case(2.0, [-1.0], [-1.5], 0.1, "a single token: penalty and score land on the same token"),
        case(1.0, [-1.0, -2.0, -0.5], [-1.0, -2.0, -0.5], 0.1, "policy equals reference: only the score, at the end"),
        case(1.0, [-1.0, -2.0, -0.5], [-1.2, -1.0, -0.9], 0.0, "beta = 0: no penalty"),
        case([1.0, -1.0], [[-1.0, -0.2], [-0.4, -0.3]], [[-1.1, -0.5], [-0.4, -0.1]], 0.2, "a batch (B, T)"),
    ]
    B, T = 3, 5
    cases.append(case(list(_r(rng, B)), _r(rng, B, T, low=-3, high=0), _r(rng, B, T, low=-3, high=0), 0.05, "random"))
    return CaseSet(cases, "tensor")


def build(name: str, seed: int) -> CaseSet:
    """The cases of generator `name` for one attempt."""
    return CASE_GENERATORS[name](np.random.default_rng(seed))
