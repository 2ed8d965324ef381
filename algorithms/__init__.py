"""RL Dojo's reinforcement-learning library.

Pure numpy / torch / gymnasium: nothing here imports streamlit or anything from `app/`
(a test enforces it). Lessons show this code, and quizzes grade against it.

REGISTRY lists the algorithms the run manager can train (see `algorithms/contract.py` for the
contract). Modules are imported only when used, so importing this package stays cheap. Extra
algorithms can be plugged in without editing this file: set RLDOJO_PLUGINS to a comma-separated
list of modules that each define a REGISTRY dict of the same shape.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    title: str
    description: str
    module: str
    config: str  # name of the frozen config dataclass in `module`
    train: str = "train"


REGISTRY: dict[str, AlgorithmSpec] = {
    spec.name: spec
    for spec in [
        AlgorithmSpec(
            name="ppo",
            title="PPO",
            description="Proximal Policy Optimization with the clipped objective and GAE (Schulman et al. 2017).",
            module="algorithms.ppo",
            config="PPOConfig",
        ),
        AlgorithmSpec(
            name="reinforce",
            title="REINFORCE",
            description="Monte Carlo policy gradient (Williams 1992), with an optional learned baseline.",
            module="algorithms.reinforce",
            config="ReinforceConfig",
        ),
        AlgorithmSpec(
            name="a2c",
            title="A2C",
            description="Synchronous advantage actor-critic with n-step or GAE advantages (Mnih et al. 2016).",
            module="algorithms.a2c",
            config="A2CConfig",
        ),
        AlgorithmSpec(
            name="trpo",
            title="TRPO",
            description="Trust region policy optimization: conjugate gradient, KL line search (Schulman et al. 2015).",
            module="algorithms.trpo",
            config="TRPOConfig",
        ),
        AlgorithmSpec(
            name="dqn",
            title="DQN",
            description="Deep Q-network with replay, a target network and double DQN (Mnih et al. 2015).",
            module="algorithms.dqn",
            config="DQNConfig",
        ),
        AlgorithmSpec(
            name="sac",
            title="SAC",
            description="Soft actor-critic for continuous control, with automatic temperature (Haarnoja et al. 2018).",
            module="algorithms.sac",
            config="SACConfig",
        ),
        AlgorithmSpec(
            name="tabular",
            title="Tabular TD control",
            description="Q-learning, Sarsa, expected Sarsa or Monte Carlo control on a grid or the dosing patient.",
            module="algorithms.tabular",
            config="TabularConfig",
        ),
        AlgorithmSpec(
            name="debug-lab",
            title="Debugging lab (PPO with bug switches)",
            description="A compact PPO on CartPole-v1 in which each classic bug (sign, ratio, masks, ...) is a switch.",
            module="algorithms.debug_lab",
            config="DebugLabConfig",
        ),
        AlgorithmSpec(
            name="rlhf",
            title="RLHF on a small language model",
            description="SFT, a reward model, then PPO with a KL penalty, DPO or KTO on a GPT-2 writing movie reviews.",
            module="algorithms.lm.pipeline",
            config="RLHFConfig",
        ),
        AlgorithmSpec(
            name="grpo",
            title="GRPO with a verifiable reward",
            description="GRPO from the SFT model against a program as reward (RLVR); Dr. GRPO, DAPO, RLOO as switches.",
            module="algorithms.lm.grpo",
            config="GRPOConfig",
        ),
    ]
}


def registry() -> dict[str, AlgorithmSpec]:
    """The built-in algorithms plus those of the modules named in RLDOJO_PLUGINS."""
    found = dict(REGISTRY)
    for module_name in filter(None, (m.strip() for m in os.environ.get("RLDOJO_PLUGINS", "").split(","))):
        found.update(importlib.import_module(module_name).REGISTRY)
    return found


def load(name: str) -> tuple[ModuleType, type, AlgorithmSpec]:
    """The module, config class and spec of a registered algorithm."""
    specs = registry()
    if name not in specs:
        raise KeyError(f"unknown algorithm '{name}'; known: {', '.join(sorted(specs))}")
    spec = specs[name]
    module = importlib.import_module(spec.module)
    return module, getattr(module, spec.config), spec
