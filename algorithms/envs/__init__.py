"""RL Dojo's own Gymnasium environments, registered on import.

    import algorithms.envs  # noqa: F401
    env = gymnasium.make("RLDojo/WindyGridworld-v0")      # Sutton & Barto Example 6.5
    env = gymnasium.make("RLDojo/Dosing-v0", reward="bad")  # seed 002's warfarin-like patient

Registration is idempotent: importing this package again, or reloading it, registers
nothing twice and warns about nothing. Entry points are strings, so registering does not
import the environments' modules.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

WINDY_GRIDWORLD_ID = "RLDojo/WindyGridworld-v0"
WINDY_GRIDWORLD_KINGS_ID = "RLDojo/WindyGridworldKings-v0"
DOSING_ID = "RLDojo/Dosing-v0"
EPISODE_DAYS = 30
"""One treatment period; the dosing environment truncates here (mirrored in its registration)."""

_ENVS: dict[str, dict] = {
    WINDY_GRIDWORLD_ID: {"entry_point": "algorithms.envs.windy_gridworld:WindyGridworldEnv"},
    WINDY_GRIDWORLD_KINGS_ID: {
        "entry_point": "algorithms.envs.windy_gridworld:WindyGridworldEnv",
        "kwargs": {"king_moves": True},
    },
    DOSING_ID: {"entry_point": "algorithms.envs.dosing:DosingEnv", "max_episode_steps": EPISODE_DAYS},
}


def register_envs() -> None:
    """Register RL Dojo's environments with Gymnasium, skipping ids already registered."""
    for env_id, spec in _ENVS.items():
        if env_id not in registry:
            register(id=env_id, **spec)


register_envs()

__all__ = [
    "DOSING_ID",
    "EPISODE_DAYS",
    "WINDY_GRIDWORLD_ID",
    "WINDY_GRIDWORLD_KINGS_ID",
    "register_envs",
]
