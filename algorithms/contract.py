"""The one small contract every trainable algorithm follows, so the run manager can drive it.

    train(config, on_update, should_stop) -> TrainResult

- `config` is a frozen dataclass. Each field has a type, a default and a docstring (a string
  literal right after it); the app builds its start form from them, so a new algorithm needs no
  UI code.
- `on_update(metrics)` receives a flat dict of floats, keyed like `charts/episodic_return`,
  `losses/policy`, `losses/approx_kl`, always with `global_step`. Call it every few updates,
  not every environment step.
- `should_stop()` is polled between updates; when it returns True, finish the current update,
  and return what you have.
- Progress: include `progress` in [0, 1] in the metrics so pages can show a bar and an ETA.
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import json
import os
import textwrap
import time
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from itertools import pairwise
from pathlib import Path
from typing import Any

Metrics = dict[str, float]
OnUpdate = Callable[[Metrics], None]
ShouldStop = Callable[[], bool]


@dataclass
class TrainResult:
    """What train() returns: final metrics for the record, and files it wrote (checkpoints, videos)."""

    metrics: Metrics = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> path


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; the run stops with this message."""


def check_finite(name: str, value: float, step: int) -> None:
    if value != value or value in (float("inf"), float("-inf")):
        raise NonFiniteLossError(f"{name} became {value} at step {step}: try a smaller learning rate")


def save_animation(frames: list, path: str, fps: int = 30, max_frames: int = 300, width: int = 360) -> str:
    """Write RGB frames (H, W, 3) as a looping GIF, thinned and shrunk to stay small (a few MB at most)."""
    from PIL import Image

    step = max(1, len(frames) // max_frames)
    images = []
    for frame in frames[::step]:
        image = Image.fromarray(frame)
        if image.width > width:
            image = image.resize((width, round(image.height * width / image.width)))
        images.append(image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64))
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 * step / fps), loop=0)
    return path


def never_stop() -> bool:
    return False


def ignore_metrics(metrics: Metrics) -> None:
    return None


def pick_device(prefer: str = "auto") -> str:
    """'cuda' when torch sees a GPU (and prefer is 'auto' or 'cuda'), else 'cpu'."""
    if prefer == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if prefer == "cuda":
        raise RuntimeError("device 'cuda' was asked for, but torch sees no GPU")
    return "cpu"


def configure_cpu_threads() -> None:
    """One thread for small networks: on a 2-core machine two threads made torch up to 17x slower
    whenever another process was busy."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(1)


@dataclass(frozen=True)
class RunConfig:
    """The settings every trainable deep-RL algorithm shares. An algorithm's config inherits them and
    redeclares one only to change its default or say something its own (a field keeps its docstring from
    the class that declares it last). On the form, the CLI and config.json, env_id and seed come first and
    the fields named in LAST_FIELDS last, so each algorithm's own settings sit in between."""

    LAST_FIELDS: typing.ClassVar[tuple[str, ...]] = ("eval_episodes", "device", "max_seconds", "output_dir")

    env_id: str = "CartPole-v1"
    """Gymnasium id of an environment with a vector observation and Discrete or Box actions."""
    seed: int = 1
    """Seeds the networks, the action sampling, exploration, the minibatch order and the environments: the same
    seed repeats a run."""
    eval_episodes: int = 20
    """Deterministic episodes (argmax or Gaussian mean) played after training to score the policy (0: none)."""
    device: str = "auto"
    """auto, cpu or cuda. auto takes cuda when present; these small networks are as fast on a CPU."""
    max_seconds: float | None = None
    """Wall-clock cap on training in seconds; None trains for the whole budget."""
    output_dir: str = ""
    """Folder for the checkpoint, the config and an episode animation; empty saves nothing."""


@dataclass(frozen=True)
class StepsConfig(RunConfig):
    """A RunConfig whose budget is a number of environment steps."""

    total_timesteps: int = 100_000
    """Environment steps in all, summed over the parallel copies (the budget; see also max_seconds)."""


def field_docs(config_class: type) -> dict[str, str]:
    """The docstring written under each dataclass field (used as help text in forms and CLIs), from the
    class and its bases; where a subclass redeclares a field, its docstring wins."""
    docs: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        if klass is not object:
            docs.update(_own_field_docs(klass))
    return docs


@functools.lru_cache(maxsize=256)
def _own_field_docs(config_class: type) -> dict[str, str]:
    """The field docstrings written in `config_class`'s own body. Remembered per class: finding a
    class's source parses its whole module, and a live run's form asks on every rerun (0.4 s for
    PPO's four classes, py-spy on the lesson's first render). Callers only read the dict."""
    try:
        source = textwrap.dedent(inspect.getsource(config_class))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0]
    docs: dict[str, str] = {}
    statements = getattr(body, "body", [])
    for current, following in pairwise(statements):
        if (
            isinstance(current, ast.AnnAssign)
            and isinstance(current.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[current.target.id] = " ".join(following.value.value.split())
    return docs


def ordered_fields(config_class: type) -> list[Any]:
    """The dataclass fields in the order people see them: the config's LAST_FIELDS (if it has them) moved
    to the end, everything else in declaration order (base fields first)."""
    last = getattr(config_class, "LAST_FIELDS", ())
    by_name = {f.name: f for f in fields(config_class)}
    return [f for f in by_name.values() if f.name not in last] + [by_name[n] for n in last if n in by_name]


def config_dict(config: Any) -> dict[str, Any]:
    """`asdict(config)` in the order of ordered_fields (what config.json holds)."""
    values = asdict(config)
    return {f.name: values[f.name] for f in ordered_fields(type(config))}


def config_fields(config_class: type) -> list[dict[str, Any]]:
    """name, type, default and help of each field of a config dataclass, in the order of ordered_fields."""
    docs = field_docs(config_class)
    hints: dict[str, Any] = {}
    for klass in reversed(config_class.__mro__):
        if klass is not object:
            hints.update(inspect.get_annotations(klass, eval_str=True))
    return [
        {"name": f.name, "type": hints.get(f.name, Any), "default": _default(f), "help": docs.get(f.name, "")}
        for f in ordered_fields(config_class)
    ]


def _default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def _parse_tuple(text: str, item: type) -> tuple:
    return tuple(item(x) for x in text.replace(",", " ").split())


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """One flag per config field (--env-id for env_id), help from the field's docstring."""
    for f in config_fields(config_class):
        flag = "--" + f["name"].replace("_", "-")
        kind, default = f["type"], f["default"]
        helptext = f"{f['help']} (default: {default})".replace("%", "%%")
        optional = False
        if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in typing.get_args(kind):
            optional = True
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=helptext)
        elif typing.get_origin(kind) is typing.Literal:
            parser.add_argument(flag, choices=typing.get_args(kind), default=default, help=helptext)
        elif typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            parser.add_argument(
                flag, type=lambda s, item=item: _parse_tuple(s, item), default=default, metavar="N,N", help=helptext
            )
        else:
            convert = kind
            if optional:

                def convert(s: str, kind: type = kind) -> Any:
                    return None if s.lower() == "none" else kind(s)

            parser.add_argument(flag, type=convert, default=default, help=helptext)


def print_summary(result: TrainResult, eval_episodes: int, as_json: bool) -> None:
    """The command line's closing lines: a sentence for people, then (with --json) one JSON object."""
    r = result.metrics
    to = r["seconds_to_threshold"]
    summary = f"{int(r['total_steps'])} steps in {r['seconds']:.1f} s; "
    if r["reward_threshold"] is None:
        summary += "no reward threshold for this environment"
    else:
        summary += f"threshold {r['reward_threshold']:g} "
        summary += "never reached" if to is None else f"reached after {to:.1f} s ({int(r['steps_to_threshold'])} steps)"
    if r["eval_return_mean"] is not None:
        summary += (
            f"; deterministic evaluation over {eval_episodes} episodes: "
            f"{r['eval_return_mean']:.1f} +- {r['eval_return_std']:.1f}"
        )
    print(summary, flush=True)
    if as_json:
        print(json.dumps({**r, "artifacts": result.artifacts}))


def save_config_and_episode(out: Path, config: Any, record: Callable[[], list], interrupted: bool) -> dict[str, str]:
    """Write config.json and, unless the run was interrupted, an animated episode of the final policy.

    `record` plays the episode and returns its RGB frames; it is skipped when someone pressed Stop
    (they are waiting). Returns the artifacts written, by name.
    """
    import gymnasium as gym

    (out / "config.json").write_text(json.dumps(config_dict(config), indent=2))
    artifacts = {"config": str(out / "config.json")}
    if not interrupted:
        try:
            artifacts["episode"] = save_animation(record(), str(out / "episode.gif"))
        except gym.error.DependencyNotInstalled as err:
            print(f"no episode animation: {err}", flush=True)
            (out / NO_EPISODE_FILE).write_text(f"No episode animation: {err}\n")
            artifacts["no_episode"] = str(out / NO_EPISODE_FILE)
    return artifacts


NO_EPISODE_FILE = "no-episode.txt"
"""Written instead of episode.gif when the environment cannot render here; says why (the runs page shows it)."""
LATEST_FILE = "latest.json"
"""What a long run saved last (step, time, episode return): the runs page captions its latest episode with it."""


def replace_file(path: Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(temporary path)``, then move the result over ``path`` in one step, so a page
    reading ``path`` while a run rewrites it never sees half a file. Keeps ``path``'s suffix, which
    picks the format of PIL and of some savers."""
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")
    write(partial)
    os.replace(partial, path)
    return path


def episode_report(shown: list[tuple[float, int]], recent: Any) -> Metrics:
    """The episode charts of one report of an off-policy run: the mean return and length of ``shown``
    (the (return, length) of the episodes that ended since the last report, else the latest one) and the
    mean of ``recent`` (the last 100 returns)."""
    import numpy as np

    return {
        "charts/episodic_return": float(np.mean([r for r, _ in shown])),
        "charts/episodic_return_mean100": float(np.mean(recent)),
        "charts/episodic_length": float(np.mean([n for _, n in shown])),
    }


def save_progress(out: Path, record: Callable[[], list] | None, info: dict[str, Any]) -> None:
    """A long run's periodic artifacts, beside the final ones: ``episode.gif`` of the current policy
    (when ``record`` is given and the environment can render) and ``latest.json`` with ``info``
    (global_step and the like) and the time. Both are replaced atomically; a page can watch them."""
    import time

    import gymnasium as gym

    info = dict(info)
    if record is not None:
        try:
            replace_file(out / "episode.gif", lambda p: save_animation(record(), str(p)))
            info["episode"] = "episode.gif"
        except gym.error.DependencyNotInstalled as err:
            info["no_episode"] = str(err)
    info["time"] = time.time()
    replace_file(out / LATEST_FILE, lambda p: p.write_text(json.dumps(info)))


# ---------------------------------------------------------------------------------------
# Bookkeeping every train() shares (like Spinning Up's logger): progress, the closing block, the CLI
# ---------------------------------------------------------------------------------------


def budget_progress(done: float, budget: float, elapsed: float, max_seconds: float | None) -> float:
    """The ``progress`` of a report, in [0, 1]: the share of the budget (steps, episodes or
    iterations) done, or of the wall-clock cap when that runs out first."""
    progress = done / budget
    if max_seconds is not None:  # the run ends at whichever budget runs out first
        progress = max(progress, elapsed / max_seconds if max_seconds > 0 else 1.0)
    return min(1.0, progress)


def ended_by(max_seconds: float | None, elapsed: float, should_stop: ShouldStop | None) -> str | None:
    """Why the training loop ends after this update, if it does: "time" (``max_seconds`` have passed) or
    "stop" (someone pressed Stop: save, but skip the evaluation and the animation, they are waiting);
    None: go on. ``should_stop`` is polled only when time is left."""
    if max_seconds is not None and elapsed >= max_seconds:
        return "time"
    if should_stop is not None and should_stop():
        return "stop"
    return None


def final_metrics(
    last: Metrics,
    *,
    total_steps: int,
    episodes: int,
    updates: int,
    started: float,
    train_seconds: float,
    to_threshold: dict[str, float] | None,
    reward_threshold: float | None,
    evaluation: tuple[float | None, float | None],
    stopped_early: bool,
    training_started: float | None = None,
    episodes_to_threshold: bool = False,
) -> dict[str, Any]:
    """The record a run leaves: its last report and the keys every algorithm shares.

    ``started`` is the clock at the call of train(); ``training_started`` (when given) the clock at
    the first environment step, so ``setup_seconds`` is the time spent building environments and
    networks. ``to_threshold`` holds ``seconds`` and ``steps`` (and ``episodes`` when
    ``episodes_to_threshold``) at which the 100-episode mean first reached ``reward_threshold``.
    """
    to = to_threshold
    final: dict[str, Any] = {
        **last,
        "total_steps": float(total_steps),
        "episodes": float(episodes),
        "updates": float(updates),
        "seconds": time.perf_counter() - started,
        "train_seconds": train_seconds,
    }
    if training_started is not None:
        final["setup_seconds"] = training_started - started
    final["seconds_to_threshold"] = None if to is None else to["seconds"]
    final["steps_to_threshold"] = None if to is None else to["steps"]
    if episodes_to_threshold:
        final["episodes_to_threshold"] = None if to is None else to["episodes"]
    final["reward_threshold"] = reward_threshold
    final["eval_return_mean"], final["eval_return_std"] = evaluation
    final["stopped_early"] = float(stopped_early)
    return final


def save_run(
    config: Any, checkpoints: dict[str, tuple[str, Any]], record: Callable[[], list], interrupted: bool
) -> dict[str, str]:
    """The closing files of a run in ``config.output_dir`` (nothing when it is empty): each
    checkpoint ``{artifact name: (file name, state dict)}`` saved with torch, then config.json and
    an episode animation (``save_config_and_episode``). Returns the artifacts written, by name."""
    if not config.output_dir:
        return {}
    import torch

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, str] = {}
    for name, (file_name, state) in checkpoints.items():
        torch.save(state, out / file_name)
        artifacts[name] = str(out / file_name)
    return artifacts | save_config_and_episode(out, config, record, interrupted)


def progress_printer(line: Callable[[Metrics], str], every: float = 1.0) -> OnUpdate:
    """An ``on_update`` for the command line: prints ``line(metrics)`` at most once every ``every``
    seconds, and at the end (progress 1)."""
    last_print = [0.0]

    def on_update(m: Metrics) -> None:
        now = time.perf_counter()
        if now - last_print[0] >= every or m["progress"] >= 1.0:
            last_print[0] = now
            print(line(m), flush=True)

    return on_update


def on_policy_line(m: Metrics) -> str:
    """The progress line of the on-policy methods (PPO, A2C, TRPO, the debugging lab)."""
    nan = float("nan")
    return (
        f"step {int(m['global_step']):>8}  episodes {int(m['charts/episodes']):>5}"
        f"  mean100 {m.get('charts/episodic_return_mean100', nan):8.1f}"
        f"  policy {m.get('losses/policy', nan):7.3f}  value {m.get('losses/value', nan):9.3g}"
        f"  entropy {m.get('losses/entropy', nan):.3f}  kl {m.get('losses/approx_kl', nan):.4f}"
        f"  {m['charts/steps_per_second']:7.0f} steps/s"
    )


def off_policy_line(knob: tuple[str, str], losses: tuple[tuple[str, str, str], ...]) -> Callable[[Metrics], str]:
    """The progress line of the off-policy methods (DQN, SAC): steps, episodes, the latest returns, the
    exploration ``knob`` (label, key: epsilon or alpha) and, once learning has started (the first loss
    is reported), each of ``losses`` as (label, key, format)."""
    label, key = knob

    def line(m: Metrics) -> str:
        text = f"step {int(m['global_step']):>8}  episode {int(m['charts/episodes']):>5}"
        if "charts/episodic_return" in m:
            text += f"  return {m['charts/episodic_return']:8.1f}  mean100 {m['charts/episodic_return_mean100']:8.1f}"
        text += f"  {label} {m[key]:.3f}"
        if losses[0][1] in m:
            text += "".join(f"  {name} {m[k]:{spec}}" for name, k, spec in losses)
        return text + f"  {m['charts/steps_per_second']:6.0f} steps/s"

    return line


def command_line(
    argv: Any,
    module: types.ModuleType,
    config_class: type,
    train: Callable[..., TrainResult],
    line: Callable[[Metrics], str],
    title: str | Callable[[Any], str],
    preset: Callable[[str], Any] | None = None,
) -> int:
    """``python -m MODULE``: one flag per config field (``add_config_arguments``; with ``preset``, the env id
    given picks the defaults of the others), a header "TITLE on ENV, device D, seed S" (``title`` may be a
    function of the config), progress lines (``line``), then ``print_summary`` (one JSON object with --json)."""
    prog = module.__spec__.name if module.__spec__ else module.__name__  # run with -m, __name__ is "__main__"
    doc = (module.__doc__ or "").splitlines()
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=doc[0] if doc else None)
    add_config_arguments(parser, config_class)
    if preset is not None:  # two passes: the env id picks the preset, whose values become the other flags' defaults
        first = argparse.ArgumentParser(add_help=False)
        first.add_argument("--env-id", default=config_class.env_id)
        parser.set_defaults(**asdict(preset(first.parse_known_args(argv)[0].env_id)))
    parser.add_argument("--json", action="store_true", help="print one JSON object of final metrics, last")
    args = vars(parser.parse_args(argv))
    as_json = args.pop("json")
    config = config_class(**args)
    name = title if isinstance(title, str) else title(config)
    print(f"{name} on {config.env_id}, device {pick_device(config.device)}, seed {config.seed}", flush=True)
    result = train(config, on_update=progress_printer(line))
    print_summary(result, config.eval_episodes, as_json)
    return 0
