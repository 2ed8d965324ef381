"""The demos a lesson may embed: names, what they show, and their parameters.

This is the validation side (no streamlit): a lesson's `demo:` must name one of these and its
`params:` must fit the demo's model. `app/widgets/demos.py` draws each one; a test checks that
every demo here has a renderer there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DemoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    ]
}
