"""The demos a lesson may embed: names, what they show, and their parameters.

This is the validation side (no streamlit): a lesson's `demo:` must name one of these and its
`params:` must fit the demo's model. `app/widgets/demos.py` draws each one; a test checks that
every demo here has a renderer there.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, model_validator

from app.content.types import is_quick
from app.words import noun


class DemoParams(BaseModel):
    # strict: `episodes: true` or `gamma: "0.9"` is an error, never coerced
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ReturnsExplorerParams(DemoParams):
    rewards: list[float] = Field(
        default=[0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 10.0],
        min_length=1,
        max_length=200,
        description="The reward sequence r_1, r_2, ... the demo starts with.",
    )
    gamma: float = Field(default=0.9, ge=0.0, le=1.0, description="Initial discount factor.")


class GridworldParams(DemoParams):
    grid: Literal["gridworld-5x5", "gridworld-4x4"] = "gridworld-5x5"
    method: Literal["policy-evaluation", "value-iteration"] = "value-iteration"
    gamma: float = Field(default=0.9, ge=0.0, le=1.0)


class CliffWalkingParams(DemoParams):
    algorithms: list[Literal["sarsa", "q-learning", "expected-sarsa"]] = Field(
        default=["sarsa", "q-learning"], min_length=1
    )
    episodes: int = Field(default=500, ge=50, le=2000)
    runs: int = Field(default=20, ge=1, le=100)
    alpha: float = Field(default=0.5, gt=0.0, le=1.0)
    epsilon: float = Field(default=0.1, ge=0.0, le=0.5)
    seed: int = 0


class DosingRewardsParams(DemoParams):
    seed: int = 0


TESTBED_AGENTS = Literal[
    "eps:0", "eps:0.01", "eps:0.1", "optimistic:5", "ucb:2", "gradient:0.1", "thompson", "eps-const:0.1", "random"
]


class BanditTestbedParams(DemoParams):
    agents: list[TESTBED_AGENTS] = Field(default=["eps:0", "eps:0.01", "eps:0.1", "ucb:2"], min_length=1)
    runs: Literal[100, 200, 500, 1000, 2000] = 500
    steps: int = Field(default=1000, ge=10, le=5000)
    nonstationary: bool = False
    seed: int = 0


class ContextualBanditParams(DemoParams):
    agents: list[Literal["linucb", "lints", "eps:0.1", "random"]] = Field(
        default=["linucb", "lints", "eps:0.1", "random"], min_length=1
    )
    runs: int = Field(default=20, ge=1, le=200)
    steps: int = Field(default=2000, ge=100, le=20000)
    seed: int = 0


class GaeExplorerParams(DemoParams):
    lam: float = Field(default=0.95, ge=0.0, le=1.0)
    gamma: float = Field(default=0.99, ge=0.8, le=0.999)
    reward_noise: float = Field(default=1.0, ge=0.0, le=3.0)
    critic_error: float = Field(default=1.0, ge=0.0, le=3.0)
    seed: int = 0


class PpoClipParams(DemoParams):
    clip_eps: float = Field(default=0.2, ge=0.05, le=0.5)
    ratio: float = Field(default=1.3, ge=0.0, le=2.5)
    advantage: float = Field(default=2.0, gt=0.0, le=10.0)


class DynaMazeParams(DemoParams):
    planning_steps: list[int] = Field(default=[0, 5, 50], min_length=1, max_length=5)
    """The n of each curve: planning updates per real step, 0 to 100."""
    runs: int = Field(default=10, ge=1, le=30)
    episodes: int = Field(default=50, ge=5, le=100)
    seed: int = 0

    @model_validator(mode="after")
    def _planning_steps_in_range(self) -> DynaMazeParams:
        if any(not 0 <= n <= 100 for n in self.planning_steps):
            raise ValueError(f"planning_steps must each be 0 to 100, got {self.planning_steps}")
        return self


class SeedEvaluationParams(DemoParams):
    results: Literal["reinforce-cartpole"] = "reinforce-cartpole"
    """Which measured runs to show: a file lessons/data/<results>-seeds.json written by
    `python -m algorithms.evaluation seeds ... --out`."""
    seeds: int = Field(default=10, ge=3, le=100)
    """How many of the recorded seeds the page starts with (the learner can change it)."""
    reps: int = Field(default=2000, ge=200, le=20000)
    """Bootstrap replicates."""


class OfflineRlParams(DemoParams):
    dataset: Literal["random", "medium", "expert"] = "medium"
    """The behaviour policy that logged the data."""
    episodes: int = Field(default=50, ge=5, le=300)
    """Episodes in the log."""
    alpha: float = Field(default=1.0, ge=0.0, le=10.0)
    """CQL's penalty weight."""
    epsilon: float = Field(default=0.2, ge=0.0, le=1.0)
    seed: int = 0


class SparseExplorationParams(DemoParams):
    length: int = Field(default=20, ge=5, le=40)
    """States in the chain."""
    bonuses: list[float] = Field(default=[0.0, 0.01, 0.1], min_length=1, max_length=4)
    """The count-bonus weights beta compared (0 is plain epsilon-greedy)."""
    runs: int = Field(default=10, ge=1, le=30)
    episodes: int = Field(default=300, ge=50, le=1000)

    @model_validator(mode="after")
    def _bonuses_in_range(self) -> SparseExplorationParams:
        if any(not 0.0 <= b <= 1.0 for b in self.bonuses):
            raise ValueError(f"bonuses must each be 0 to 1, got {self.bonuses}")
        return self


class MetaRlBanditParams(DemoParams):
    task_distribution: Literal["independent", "dependent"] = "independent"
    """The distribution shown first: independent arms, or two arms with p(1) = 1 - p(0)."""
    updates: int = Field(default=600, ge=50, le=1500)
    """A2C updates a fresh run starts with (the learner can change it)."""
    seed: int = Field(default=0, ge=0, le=1000)
    eval_tasks: int = Field(default=500, ge=100, le=5000)
    """Fresh tasks a fresh run is scored on."""


class MctsTreeParams(DemoParams):
    board: str = Field(default="X.O.X....", description="9 cells of X, O or . row by row")
    simulations: int = Field(default=1000, ge=10, le=20000)
    c: float = Field(default=math.sqrt(2), ge=0.0, le=5.0)
    seed: int = 0

    @model_validator(mode="after")
    def _a_playable_board(self) -> MctsTreeParams:
        from algorithms.planning import legal_moves, parse_board

        if not legal_moves(parse_board(self.board)):  # parse_board raises a ValueError that names the problem
            raise ValueError(f"the game is already over on board {self.board!r}: pick a position with moves left")
        return self


class LiveRunParams(DemoParams):
    algorithm: str
    """A name from algorithms.REGISTRY."""
    preset: dict[str, Any] = Field(default_factory=dict)
    """Config values the form starts from (the learner can change them)."""
    fields: list[str] = Field(default_factory=list)
    """Config fields shown first; the rest go under 'More settings'."""

    @model_validator(mode="after")
    def _known_algorithm_and_fields(self, info: ValidationInfo) -> LiveRunParams:
        from algorithms import registry  # names only: light

        if self.algorithm not in registry():
            raise ValueError(f"unknown algorithm '{self.algorithm}'; known: {', '.join(sorted(registry()))}")
        if is_quick(info):  # the lesson's own page checks the rest: loading a config imports torch
            return self
        from algorithms import load
        from algorithms.contract import config_fields

        _, config_class, _ = load(self.algorithm)
        config = config_fields(config_class)
        types = {f["name"]: f["type"] for f in config}
        defaults = {f["name"]: f["default"] for f in config}
        unknown = [name for name in [*self.preset, *self.fields] if name not in types]
        if unknown:
            raise ValueError(
                f"{config_class.__name__} has no {noun(len(unknown), 'field')} {', '.join(unknown)}; "
                f"it has: {', '.join(types)}"
            )
        bad = [_preset_problem(name, types[name], value, defaults[name]) for name, value in self.preset.items()]
        if any(bad):
            raise ValueError("; ".join(b for b in bad if b))
        try:  # the config's own checks (a dataclass's __post_init__), as the run will meet them
            config_class(**{name: _as_field(types[name], value) for name, value in self.preset.items()})
        except Exception as exc:
            raise ValueError(f"{config_class.__name__} refuses this preset: {exc}") from exc
        return self


def _as_field(kind: Any, value: Any) -> Any:
    # YAML has no tuples: `hidden_sizes: [64, 64]` is the tuple the config wants.
    return tuple(value) if isinstance(value, list) and _is_tuple(kind) else value


def _is_tuple(kind: Any) -> bool:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return any(_is_tuple(arg) for arg in typing.get_args(kind))
    return kind is tuple or typing.get_origin(kind) is tuple


def _preset_problem(name: str, kind: Any, value: Any, default: Any) -> str:
    """'' when `value` fits the config field's type strictly (no `lr: fast`, no `seed: true`).

    A number whose default is positive must not be negative: `total_timesteps: -5` would only fail
    once the run starts. Zero stays allowed (`ent_coef: 0`, `sleep: 0` are meaningful); the config's
    own constructor refuses the zeros it cannot take.
    """
    numeric = (int, float)
    if (
        isinstance(value, numeric)
        and not isinstance(value, bool)
        and isinstance(default, numeric)
        and not isinstance(default, bool)
        and default > 0
        and value < 0
    ):
        return f"preset {name}: {value!r} must not be negative (the default is {default!r})"
    try:
        TypeAdapter(kind, config=ConfigDict(strict=True, allow_inf_nan=False)).validate_python(_as_field(kind, value))
    except ValidationError as exc:
        return f"preset {name}: {value!r} is not a {_type_name(kind)} ({exc.errors()[0]['msg']})"
    except Exception:  # a type pydantic cannot check: leave it to the config's own checks
        return ""
    return ""


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")


DEBUG_LAB_BUGS = Literal[
    "bug_no_termination_mask",
    "bug_truncation_as_termination",
    "bug_log_prob_ratio",
    "bug_wrong_sign",
    "bug_no_adv_norm",
    "bug_lr_too_high",
]


class DebugLabParams(DemoParams):
    bugs: list[DEBUG_LAB_BUGS] = Field(default=["bug_wrong_sign"], max_length=6)
    """The bug switches of algorithms.debug_lab ticked at first (the learner can change them)."""
    total_timesteps: int = Field(default=20_480, ge=1024, le=50_000)
    """Environment steps of each of the two runs (the correct one and the buggy one)."""
    seed: int = Field(default=1, ge=0, le=1000)


class RlhfRunSpec(DemoParams):
    label: str = Field(min_length=1, max_length=40)
    """How the run is named in the charts and the table."""
    stage: Literal["ppo", "ppo_no_kl", "dpo", "kto"] = "ppo"
    beta: float | None = Field(default=None, ge=0.0, le=10.0)
    """KL penalty (PPO) or DPO / KTO temperature; empty for the preset's."""
    iterations: int | None = Field(default=None, ge=1, le=1000)
    """PPO iterations; empty for the preset's."""


class RlhfCompareParams(DemoParams):
    runs: list[RlhfRunSpec] = Field(
        default=[
            RlhfRunSpec(label="PPO with KL penalty", stage="ppo"),
            RlhfRunSpec(label="PPO without it", stage="ppo_no_kl"),
        ],
        min_length=1,
        max_length=3,
    )
    """The runs set side by side (all start from the same SFT model)."""
    preset: Literal["auto", "smoke", "tiny", "gpu"] = "auto"
    metrics: list[str] = Field(
        default=["charts/reward_model_score", "charts/hidden_score", "charts/kl", "charts/well_formed"], min_length=1
    )
    """Metrics drawn, one chart each, every run overlaid."""


@dataclass(frozen=True)
class DemoSpec:
    name: str
    title: str
    description: str
    params: type[DemoParams]


DEMOS: dict[str, DemoSpec] = {
    spec.name: spec
    for spec in [
        DemoSpec(
            name="returns-explorer",
            title="Returns explorer",
            description="Move gamma and see the weights gamma^k and the returns G_t of a reward sequence change.",
            params=ReturnsExplorerParams,
        ),
        DemoSpec(
            name="gridworld-dp",
            title="Gridworld: dynamic programming, sweep by sweep",
            description="Policy evaluation or value iteration on Sutton & Barto's gridworlds, animated.",
            params=GridworldParams,
        ),
        DemoSpec(
            name="cliff-walking",
            title="Cliff walking: Sarsa versus Q-learning",
            description="Learning curves and greedy paths of on- and off-policy TD control (S&B Example 6.6).",
            params=CliffWalkingParams,
        ),
        DemoSpec(
            name="dosing-rewards",
            title="Reward design: two rewards, one patient",
            description="Q-learning on the dosing patient with the good reward and with 'survive today'.",
            params=DosingRewardsParams,
        ),
        DemoSpec(
            name="bandit-testbed",
            title="The 10-armed testbed",
            description="Sutton & Barto's testbed (Figures 2.2 to 2.5) with the learner's choice of agents.",
            params=BanditTestbedParams,
        ),
        DemoSpec(
            name="contextual-bandits",
            title="Contextual bandits: recommending items to users",
            description="LinUCB and linear Thompson sampling against epsilon-greedy and random, on simulated users.",
            params=ContextualBanditParams,
        ),
        DemoSpec(
            name="gae-explorer",
            title="GAE: the lambda trade-off",
            description="Bias and variance of GAE advantages against lambda, on a chain where the truth is known.",
            params=GaeExplorerParams,
        ),
        DemoSpec(
            name="ppo-clip-explorer",
            title="PPO's clipped objective",
            description="L^CLIP against the probability ratio for positive and negative advantages, with its gradient.",
            params=PpoClipParams,
        ),
        DemoSpec(
            name="dyna-maze",
            title="Dyna-Q on the Dyna Maze",
            description="Steps per episode with 0, 5 or 50 planning updates per real step (S&B Figure 8.2).",
            params=DynaMazeParams,
        ),
        DemoSpec(
            name="mcts-tree",
            title="Monte Carlo tree search on tic-tac-toe",
            description="UCT's visit counts and mean results per move on a position, beside the exact minimax values.",
            params=MctsTreeParams,
        ),
        DemoSpec(
            name="seed-evaluation",
            title="Evaluating over seeds: IQM, bootstrap intervals, performance profiles",
            description="Our own runs on many seeds: each seed's score, the IQM with its stratified bootstrap "
            "interval, and the performance profile, as the number of seeds grows.",
            params=SeedEvaluationParams,
        ),
        DemoSpec(
            name="offline-rl",
            title="Offline RL on a fixed log: behaviour cloning, naive Q-learning, CQL",
            description="Log a dataset once on a lava grid, learn from it three ways, and play each greedy policy "
            "in the real grid beside what its Q-values promised.",
            params=OfflineRlParams,
        ),
        DemoSpec(
            name="sparse-exploration",
            title="Exploring under sparse rewards: a count bonus, and hindsight replay",
            description="Q-learning on a long chain with and without a count-based bonus (live), and recorded "
            "bit-flipping runs of a goal-conditioned DQN with and without HER.",
            params=SparseExplorationParams,
        ),
        DemoSpec(
            name="meta-rl-bandits",
            title="RL²: a recurrent policy that learned to explore",
            description="Cumulative regret on fresh Bernoulli bandit tasks of a GRU meta-trained with A2C, beside "
            "Thompson sampling, UCB1 and random: recorded runs, and a fresh training run on a button press.",
            params=MetaRlBanditParams,
        ),
        DemoSpec(
            name="live-run",
            title="Live run",
            description="Start a training run of a registered algorithm from the lesson, watch it learn, stop it.",
            params=LiveRunParams,
        ),
        DemoSpec(
            name="debug-lab",
            title="Debugging lab: a buggy PPO beside a correct one",
            description="Tick classic bugs on or off and compare learning curves and diagnostics with the correct run.",
            params=DebugLabParams,
        ),
        DemoSpec(
            name="rlhf-compare",
            title="RLHF runs side by side",
            description="Two or three runs of the LM pipeline (PPO with or without KL, DPO, KTO) overlaid live.",
            params=RlhfCompareParams,
        ),
    ]
}
