"""Turn user input (a form, `--key value` on the command line) into an algorithm's config dataclass."""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, field, is_dataclass
from typing import Any

from algorithms.contract import config_dict, config_fields
from app.words import noun


class ConfigError(ValueError):
    """A config value that does not fit; the message names the field and what it expects."""


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"'{text}' is not true or false")


def coerce(name: str, kind: Any, value: Any) -> Any:
    """Convert `value` (often a string) to the field's type; None stays None for optional fields."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        kind = options[0]
    if origin is typing.Literal:
        if value not in typing.get_args(kind):
            raise ConfigError(f"{name}: expected one of {', '.join(map(str, typing.get_args(kind)))}, got {value!r}")
        return value
    try:
        if kind is bool:
            return value if isinstance(value, bool) else _parse_bool(str(value))
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{value} is not a whole number")
            return int(value)
        if kind is float:
            return float(value)
        if kind is str:
            return str(value)
        if typing.get_origin(kind) is tuple and isinstance(value, str):
            inner = typing.get_args(kind)[0]
            return tuple(inner(v) for v in value.replace(" ", "").split(",") if v)
    except (TypeError, ValueError) as exc:
        type_name = getattr(kind, "__name__", str(kind))
        raise ConfigError(f"{name}: expected {type_name}, got {value!r} ({exc})") from exc
    return value


def build_config(config_class: type, values: dict[str, Any]) -> Any:
    """An instance of `config_class` from (possibly string) values; unknown keys are an error."""
    assert is_dataclass(config_class)
    known = {f["name"]: f for f in config_fields(config_class)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown {noun(len(unknown), 'setting')} {', '.join(unknown)}; "
            f"{config_class.__name__} has: {', '.join(known)}"
        )
    kwargs = {name: coerce(name, known[name]["type"], value) for name, value in values.items()}
    for name, value in kwargs.items():
        check_bounds(name, value, known[name]["default"], known[name]["help"] or "")
    if isinstance(kwargs.get("env_id"), str):
        problem = unknown_environment(kwargs["env_id"])
        if problem:
            raise ConfigError(f"env_id: {problem}")
    try:
        return config_class(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


_POSITIVE_FLOATS = ("lr", "learning_rate", "max_seconds", "clip_eps", "max_grad_norm", "tau")


def check_bounds(name: str, value: Any, default: Any, helptext: str = "") -> None:
    """Refuse values no run can use, before it is queued: a NaN or infinite number anywhere, a
    count below 1 (episodes, steps, environments, layer sizes), a learning rate that is not
    positive, a discount or lambda outside [0, 1], a negative coefficient. A field whose default
    is a negative sentinel (-1: never) may keep it; a count whose help gives 0 a meaning ("0: no
    evaluation") may be 0."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, tuple):
        for item in value:
            if isinstance(item, int) and not isinstance(item, bool) and item < 1:
                raise ConfigError(f"{name}: every entry must be at least 1, got {item}")
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name}: must be a finite number, got {value}")
    if isinstance(value, int):
        if name == "seed":
            low = 0
        elif (default is None or (isinstance(default, int) and default >= 1)) and "0:" not in helptext:
            low = 1
        else:
            low = min(0, default)
        if value < low:
            raise ConfigError(f"{name}: must be at least {low}, got {value}")
        return
    if isinstance(value, float):
        lowered = name.lower()
        if lowered in _POSITIVE_FLOATS or lowered.endswith("_lr"):
            if value <= 0:
                raise ConfigError(f"{name}: must be greater than 0, got {value}")
        elif lowered == "gamma" or "lambda" in lowered:
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name}: must be between 0 and 1, got {value}")
        elif value < 0 and (lowered.endswith("_coef") or (_number(default) and default >= 0 and "log" not in lowered)):
            raise ConfigError(f"{name}: must be at least 0, got {value}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def unknown_environment(env_id: str) -> str | None:
    """Why `env_id` names no environment gymnasium knows (with a close match), or None."""
    import difflib

    from gymnasium.envs.registration import registry

    import algorithms.envs  # noqa: F401  (registers our own environments)

    if env_id in registry:
        return None
    close = difflib.get_close_matches(env_id, list(registry), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"no environment called {env_id!r}{hint}"


def config_to_dict(config: Any) -> dict[str, Any]:
    return config_dict(config)


# --- named starting points for the start form ---------------------------------------------------
@dataclass(frozen=True)
class RunPreset:
    """A named starting point of the start form: an environment and settings on top of the
    algorithm's own ``preset(env_id)``, with other values where a GPU is present."""

    name: str
    algorithm: str
    env_id: str
    title: str
    note: str
    values: dict[str, Any] = field(default_factory=dict)
    gpu_values: dict[str, Any] = field(default_factory=dict)
    main: tuple[str, ...] = ("env_id", "total_timesteps", "max_seconds", "checkpoint_every")
    """The fields shown first in the form; the rest go under 'More settings'."""


_HUMANOID_NOTE = (
    "Humanoid (348 observations, 17 joints) learns to stand and then walk over millions of steps: **hours on a "
    "CPU** (PPO's 10 million steps take 6 hours or more at about 500 steps a second on a 2-core machine, see "
    "docs/benchmarks.md), less with a GPU. The run saves a checkpoint and a rendered episode of the latest "
    "policy every `checkpoint every` updates (PPO iterations, SAC environment steps): leave the page and come "
    "back to watch it learn. PPO can continue a stopped run: put its folder in `resume from`."
)
_HOPPER_NOTE = (
    "Hopper (a one-legged robot, 11 observations, 3 joints) is MuJoCo's quick demo: it learns to hop forward in "
    "minutes on a CPU. The episode animation is rendered offscreen when the run ends."
)

RUN_PRESETS: tuple[RunPreset, ...] = (
    RunPreset(
        name="hopper-quick",
        algorithm="ppo",
        env_id="Hopper-v5",
        title="Hopper-v5, quick demo (MuJoCo, about 10 minutes)",
        note=_HOPPER_NOTE,
        values={"total_timesteps": 300_000, "max_seconds": 600.0, "eval_episodes": 5},
    ),
    RunPreset(
        name="humanoid-long",
        algorithm="ppo",
        env_id="Humanoid-v5",
        title="Humanoid-v5, teach a humanoid to walk (MuJoCo, long run)",
        note=_HUMANOID_NOTE,
        # Every 20 iterations of 8 x 2048 steps: about every 11 minutes on a 2-core CPU; recording the
        # episode (up to 300 frames, drawn in software) adds under a minute each time.
        values={"total_timesteps": 10_000_000, "checkpoint_every": 20, "eval_episodes": 5},
        gpu_values={"num_envs": 16, "total_timesteps": 20_000_000, "checkpoint_every": 10},
        main=("env_id", "total_timesteps", "num_envs", "checkpoint_every", "max_seconds", "resume_from"),
    ),
    RunPreset(
        name="hopper-quick",
        algorithm="sac",
        env_id="Hopper-v5",
        title="Hopper-v5, quick demo (MuJoCo, about 15 minutes)",
        note=_HOPPER_NOTE
        + " SAC takes a gradient step per environment step: about 55 steps a second on a 2-core CPU, so its 50,000"
        " steps take 15 minutes, and one seed's policy was still learning to hop by then (PPO is the faster demo).",
        values={"total_timesteps": 50_000, "learning_starts": 5_000, "max_seconds": 900.0, "eval_episodes": 5},
    ),
    RunPreset(
        name="humanoid-long",
        algorithm="sac",
        env_id="Humanoid-v5",
        title="Humanoid-v5, teach a humanoid to walk (MuJoCo, long run)",
        note=_HUMANOID_NOTE,
        values={"total_timesteps": 1_000_000, "checkpoint_every": 25_000, "eval_episodes": 5},
    ),
)


def run_presets(algorithm: str) -> list[RunPreset]:
    """The named presets of ``algorithm``, in the order the form lists them."""
    return [p for p in RUN_PRESETS if p.algorithm == algorithm]


def preset_values(run_preset: RunPreset, module: Any, cuda: bool) -> dict[str, Any]:
    """The form's starting values: the algorithm's ``preset(env_id)`` when its module has one,
    then the preset's values, then its GPU values when ``cuda``."""
    make = getattr(module, "preset", None)
    values = config_to_dict(make(run_preset.env_id)) if callable(make) else {"env_id": run_preset.env_id}
    return {**values, **run_preset.values, **(run_preset.gpu_values if cuda else {})}


def environment_problem(env_id: str) -> str | None:
    """Why ``env_id`` cannot run on this machine (MuJoCo not installed), or None."""
    from algorithms.envs.mujoco_setup import mujoco_missing

    return mujoco_missing(env_id)
