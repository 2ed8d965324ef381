"""MuJoCo environments (Hopper, HalfCheetah, Humanoid) through Gymnasium: is the engine installed,
and which OpenGL back end draws their frames with no display.

MuJoCo reads ``MUJOCO_GL`` once, when ``mujoco`` is first imported (the first ``gym.make`` of a
MuJoCo environment), and a back end whose system library is missing can break that import, not
just rendering. So ``configure_offscreen_rendering`` runs before any MuJoCo environment is made:
it keeps a ``MUJOCO_GL`` that is already set, and otherwise tries EGL, then OSMesa, each in a
throwaway process that renders a tiny scene, and sets the first that works. On a machine without
a GPU both draw with Mesa's software rasteriser (llvmpipe); with an NVIDIA driver, EGL uses the GPU.
``scripts/system-deps.sh`` installs the Debian packages (libegl1, libgl1-mesa-dri, libosmesa6).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import gymnasium as gym

INSTALL_HINT = "pip install mujoco==3.17.0 imageio==2.38.1 (both pinned in requirements.txt)"
SYSTEM_HINT = "install Debian's libegl1 and libgl1-mesa-dri, or libosmesa6 (scripts/system-deps.sh does it)"
BACKENDS = ("egl", "osmesa")
RENDER_SIZE = {"width": 320, "height": 320}
"""Frame size of recorded MuJoCo episodes: gymnasium's square framing at under half of its 480 x 480 pixels
(software rendering is slow)."""

_PROBE = """
import mujoco
model = mujoco.MjModel.from_xml_string(
    '<mujoco><worldbody><light pos="0 0 3"/><geom type="sphere" size=".2" rgba="1 0 0 1"/></worldbody></mujoco>')
data = mujoco.MjData(model)
mujoco.mj_forward(model, data)
with mujoco.Renderer(model, 32, 32) as renderer:
    renderer.update_scene(data)
    assert renderer.render().std() > 0, "a blank frame"
"""

_problem: str | None = None


def is_mujoco_env(env_id: str) -> bool:
    """True for the environments of ``gymnasium.envs.mujoco`` (Hopper-v5, Humanoid-v5, ...)."""
    try:
        entry_point = gym.spec(env_id).entry_point
    except gym.error.Error:
        return False
    return isinstance(entry_point, str) and entry_point.startswith("gymnasium.envs.mujoco")


def mujoco_missing(env_id: str) -> str | None:
    """Why ``env_id`` cannot run here (MuJoCo or imageio not installed), or None when it can."""
    if not is_mujoco_env(env_id):
        return None
    missing = [name for name in ("mujoco", "imageio") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{env_id} needs MuJoCo, and {' and '.join(missing)} is not installed: {INSTALL_HINT}"
    return None


def _probe(backend: str, timeout: float = 60.0) -> str | None:
    """None when ``backend`` renders a frame in a fresh process, else the reason it does not."""
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return f"{backend}: no frame within {timeout:.0f} s"
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return f"{backend}: {lines[-1] if lines else f'exit status {done.returncode}'}"


def configure_offscreen_rendering() -> str | None:
    """Set MUJOCO_GL (and PyOpenGL's platform) to a back end that renders with no display; call it
    before MuJoCo is imported. Returns the back end, or None when none works (see ``offscreen_problem``).

    A MUJOCO_GL set by the user is kept as it is. Tries each back end in a separate process (about
    a second, once per process: the choice is stored in the environment, which workers inherit).
    """
    global _problem
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen
    if "mujoco" in sys.modules:  # too late to choose: MuJoCo has read the variable already
        _problem = "MuJoCo was imported before an OpenGL back end was chosen; set MUJOCO_GL=egl or osmesa"
        return None
    if importlib.util.find_spec("mujoco") is None:
        _problem = f"MuJoCo is not installed: {INSTALL_HINT}"
        return None
    reasons = []
    for backend in BACKENDS:
        reason = _probe(backend)
        if reason is None:
            os.environ["MUJOCO_GL"] = backend
            os.environ.setdefault("PYOPENGL_PLATFORM", backend)
            _problem = None
            return backend
        reasons.append(reason)
    _problem = f"no OpenGL back end renders offscreen here ({'; '.join(reasons)}); {SYSTEM_HINT}"
    return None


def offscreen_problem() -> str | None:
    """Why MuJoCo cannot render here, after ``configure_offscreen_rendering`` found no back end; else None."""
    return _problem


def prepare(env_id: str) -> None:
    """Call before making ``env_id``: for a MuJoCo environment, choose the rendering back end first."""
    if is_mujoco_env(env_id) and importlib.util.find_spec("mujoco") is not None:
        configure_offscreen_rendering()


def render_kwargs(env_id: str) -> dict[str, int]:
    """Extra ``gym.make`` arguments for an ``rgb_array`` environment: a smaller frame for MuJoCo.

    Raises ``gymnasium.error.DependencyNotInstalled`` (the error the runs' artifact code already
    expects from a missing renderer) with the reason when MuJoCo has no offscreen back end."""
    if not is_mujoco_env(env_id):
        return {}
    missing = mujoco_missing(env_id)
    if missing is None and configure_offscreen_rendering() is None:
        missing = offscreen_problem()
    if missing is not None:
        raise gym.error.DependencyNotInstalled(missing)
    return dict(RENDER_SIZE)


@contextmanager
def render_errors(env_id: str) -> Iterator[None]:
    """Turn a failure to draw a MuJoCo frame (a GL error, a missing library) into
    ``gymnasium.error.DependencyNotInstalled`` with the reason: the run keeps its training and says
    why it has no animation, instead of failing at the very end. Other environments' errors pass."""
    try:
        yield
    except gym.error.DependencyNotInstalled:
        raise
    except Exception as err:
        if not is_mujoco_env(env_id):
            raise
        backend = os.environ.get("MUJOCO_GL", "unset")
        raise gym.error.DependencyNotInstalled(
            f"MuJoCo could not render offscreen (MUJOCO_GL={backend}): {type(err).__name__}: {err}; {SYSTEM_HINT}"
        ) from err
