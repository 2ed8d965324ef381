"""The sandbox for learners' code, seen from the app: a warm zygote process, started once, asked per submission.

Learners' code is hostile. It never runs in the app's process: `Sandbox.run` sends the code and the
case inputs (plain JSON) to a zygote process, which forks one supervised child per submission (see
app/grading/sandbox_runner.py for what happens there) and sends back plain JSON outputs. The
comparison with the reference happens here, in the parent; the reference and the expected values
never enter the sandbox.

Layers of protection, outermost first:

- bubblewrap, when installed (`bwrap`): no network (own network namespace), own PID, IPC and UTS
  namespaces, a read-only view of the system, the repository, home directories, /run and the data
  directory hidden under empty tmpfs mounts (only the Python installation and its packages are
  bound back, read-only), a 64 MiB tmpfs as the only writable place, a new session, and the
  capabilities cut down to the few the zygote needs to switch uids.
- per submission: a uid of its own when the zygote runs as root (so it can signal no other
  process, and every process it leaves behind can be found and killed), rlimits on CPU time,
  address space, file size, processes and open files, no-new-privileges, a private directory,
  an empty environment, a wall-clock limit after which every descendant is killed.
- the zygote's environment is scrubbed before it starts, so no secret of the app reaches it.

Without bwrap (`Sandbox.isolation == "rlimits"`) the per-submission layer still applies, but the
code can read what the server can read (the repository included) and can open network connections.
The app says so on the page.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.grading import sandbox_runner

ROOT = Path(__file__).resolve().parents[2]
BWRAP_ENV = "RLDOJO_SANDBOX"  # "bwrap" (default when installed), "rlimits" to force the plain mode
UID_BASE = 61000
TMPFS_BYTES = 64 * 1024 * 1024
START_TIMEOUT_S = 90.0
MAX_CODE_CHARS = 100_000
ZYGOTE_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/nonexistent",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
# What the zygote needs and nothing more: CAP_SETUID/SETGID to give each submission its own uid,
# CAP_KILL to kill what it leaves, CAP_CHOWN/FOWNER/DAC_OVERRIDE for its private directory.
ZYGOTE_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE")

ISOLATION_NOTES = {
    "bwrap": "Your code runs in a bubblewrap sandbox: no network, no view of the server's files, "
    "limits on time, memory, files and processes.",
    "rlimits": "Reduced protection: bubblewrap is not installed on this server, so your code runs with "
    "limits on time, memory, files and processes, but could read the server's files and use the network.",
}


def bwrap_path() -> str | None:
    if os.environ.get(BWRAP_ENV, "").lower() == "rlimits":
        return None
    return shutil.which("bwrap")


@dataclass
class SandboxResult:
    """What came back for one submission: `status` "ok" means the cases ran (each may still fail)."""

    status: str  # ok | error | timeout | cpu | killed | crashed | unavailable
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    stage: str = ""
    line: int | None = None
    stdout: str = ""
    wall_ms: float = 0.0

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> SandboxResult:
        known = {name for name in inspect.signature(cls).parameters}
        return cls(**{k: v for k, v in answer.items() if k in known})


class Sandbox:
    """One zygote process, started on first use and restarted if it dies. Thread-safe."""

    def __init__(self, isolation: str | None = None) -> None:
        bwrap = bwrap_path()
        self._auto = isolation is None  # may fall back to rlimits if bubblewrap cannot start here
        if isolation is None:
            isolation = "bwrap" if bwrap else "rlimits"
        if isolation == "bwrap" and not bwrap:
            raise RuntimeError("bubblewrap (bwrap) is not installed")
        self.isolation = isolation
        self._bwrap = bwrap
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._stderr: deque[str] = deque(maxlen=50)
        self._tmp_root: str | None = None
        self.info: dict[str, Any] = {}
        self.starts = 0
        self.fallback_reason = ""

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._close_locked()
        config: dict[str, Any] = {"uid_base": UID_BASE if os.geteuid() == 0 else None}
        source = inspect.getsource(sandbox_runner)
        python = sys.executable
        if self.isolation == "bwrap":
            config["tmp_root"] = "/tmp"
            cmd = [*self._bwrap_args(), "--", python, "-I", "-c", source, json.dumps(config)]
            cwd = "/"
        else:
            self._tmp_root = tempfile.mkdtemp(prefix="rldojo-sandbox-")
            os.chmod(self._tmp_root, 0o711)
            config["tmp_root"] = self._tmp_root
            cmd = [python, "-I", "-c", source, json.dumps(config)]
            cwd = self._tmp_root
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(ZYGOTE_ENV),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        ready: Future[dict[str, Any]] = Future()
        self._proc = proc
        # If this object is dropped or the interpreter exits without close(): end the zygote, remove its folder.
        weakref.finalize(self, _end, proc, self._tmp_root)
        self.starts += 1
        threading.Thread(target=self._read_answers, args=(proc, ready), daemon=True, name="sandbox-answers").start()
        threading.Thread(target=self._read_stderr, args=(proc,), daemon=True, name="sandbox-stderr").start()
        try:
            self.info = ready.result(timeout=START_TIMEOUT_S)
        except Exception as exc:
            self._close_locked()
            if self.isolation == "bwrap" and self._auto:  # e.g. no user namespaces in this container
                self.isolation = "rlimits"
                self.fallback_reason = " ".join(self._stderr)[-500:] or str(exc)
                self._ensure_started()
                return
            raise RuntimeError(f"the sandbox did not start: {exc}; stderr: {' '.join(self._stderr)[-2000:]}") from exc

    def _bwrap_args(self) -> list[str]:
        args = [
            self._bwrap or "bwrap",
            # Not --die-with-parent: that follows the *thread* that started bwrap, and the zygote is
            # started from whichever thread needs it first. The zygote exits when its stdin closes.
            "--new-session",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            # The private writable /tmp first: the repository (and its .venv) may itself live under
            # /tmp, and the read-only binds below must land on top of this tmpfs, not under it.
            "--size",
            str(TMPFS_BYTES),
            "--tmpfs",
            "/tmp",
        ]
        for path in hidden_paths():
            args += ["--size", str(1024 * 1024), "--tmpfs", path]
        hidden = [Path(h) for h in hidden_paths()] + [Path("/tmp")]
        made: set[Path] = set()
        for path in python_paths():
            # bwrap makes missing parent folders 0700; a submission's own uid must walk through them.
            top = next(h for h in hidden if Path(path).is_relative_to(h))
            for parent in reversed(Path(path).parents):
                if parent.is_relative_to(top) and parent != top and parent not in made:
                    made.add(parent)
                    args += ["--perms", "0755", "--dir", str(parent)]
            args += ["--ro-bind", path, path]
        args += ["--chdir", "/tmp"]
        if os.geteuid() == 0:
            args += ["--cap-drop", "ALL"]
            for cap in ZYGOTE_CAPS:
                args += ["--cap-add", cap]
        return args

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, 9)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                try:
                    if stream:
                        stream.close()
                except OSError:
                    pass
        self._fail_pending("the sandbox stopped while your code was running; it has been restarted")
        if self._tmp_root:
            shutil.rmtree(self._tmp_root, ignore_errors=True)
            self._tmp_root = None

    def _fail_pending(self, message: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_result({"status": "crashed", "stage": "sandbox", "error": message})

    # -- I/O threads ------------------------------------------------------------------------

    def _read_answers(self, proc: subprocess.Popen[bytes], ready: Future[dict[str, Any]]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                answer = json.loads(raw)
            except ValueError:
                continue
            if not ready.done():
                ready.set_result(answer)
                continue
            with self._lock:
                future = self._pending.pop(answer.get("id"), None)
            if future is not None and not future.done():
                future.set_result(answer)
        if not ready.done():
            ready.set_exception(RuntimeError(f"the zygote exited with status {proc.wait()}"))
        with self._lock:
            if self._proc is proc:
                self._fail_pending("the sandbox stopped while your code was running; it will restart")

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            self._stderr.append(raw.decode(errors="replace").rstrip())

    # -- one submission ---------------------------------------------------------------------

    def run(
        self, code: str, function: str, cases: list[dict[str, Any]], limits: dict[str, Any] | None = None
    ) -> SandboxResult:
        """Run `function` from `code` on each case ({"args": {...}, "grad": [...]}) inside the sandbox."""
        if len(code) > MAX_CODE_CHARS:
            return SandboxResult(
                status="error", stage="load", error=f"the code is longer than {MAX_CODE_CHARS} characters"
            )
        limits = {**sandbox_runner.DEFAULT_LIMITS, **(limits or {})}
        request = {
            "code": code,
            "function": function,
            "cases": [
                {"args": {k: sandbox_runner.encode_input(v) for k, v in c["args"].items()}, **_extra(c)} for c in cases
            ],
            "limits": limits,
        }
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            try:
                self._ensure_started()
            except RuntimeError as exc:
                return SandboxResult(status="unavailable", error=str(exc))
            self._next_id += 1
            request["id"] = self._next_id
            self._pending[self._next_id] = future
            proc = self._proc
            assert proc is not None and proc.stdin is not None
            try:
                proc.stdin.write((json.dumps(request) + "\n").encode())
                proc.stdin.flush()
            except OSError:
                self._pending.pop(self._next_id, None)
                self._close_locked()
                return SandboxResult(status="crashed", error="the sandbox had stopped; it will restart, try again")
        try:
            answer = future.result(timeout=float(limits["wall_s"]) + 10.0)
        except TimeoutError:
            with self._lock:  # the zygote did not answer in time: it is wedged, start afresh
                if self._proc is proc:
                    self._close_locked()
            return SandboxResult(status="timeout", error="the sandbox did not answer in time; it has been restarted")
        return SandboxResult.from_answer(answer)

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)


def _end(proc: subprocess.Popen[bytes], tmp_root: str | None) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, 9)
    if proc.stdin:  # the zygote exits when its requests end, and bwrap's namespace with it
        with contextlib.suppress(OSError):
            proc.stdin.close()
    if tmp_root:
        shutil.rmtree(tmp_root, ignore_errors=True)


def _extra(case: dict[str, Any]) -> dict[str, Any]:
    return {"grad": list(case["grad"])} if case.get("grad") else {}


def hidden_paths() -> list[str]:
    """Folders that get an empty tmpfs inside bubblewrap: the repository and anything personal."""
    root = ROOT.resolve()
    candidates = [root.parent if root.parent != Path("/") else root, root]
    data_dir = os.environ.get("RLDOJO_DATA_DIR")
    if data_dir:
        candidates.append(Path(data_dir).resolve())
    candidates += [Path(p) for p in ("/home", "/root", "/var/tmp", "/run", "/mnt", "/media", "/srv")]
    out: list[str] = []
    for path in candidates:
        if path.is_dir() and str(path) not in out and path != Path("/") and str(path) != "/tmp":
            if any(path.is_relative_to(Path(o)) for o in out):
                continue
            out.append(str(path))
    return out


def python_paths() -> list[str]:
    """The Python installation and its packages, bound back read-only where a hidden folder covers them."""
    hidden = [Path(p) for p in hidden_paths()] + [Path("/tmp")]  # /tmp is a fresh tmpfs inside
    root = ROOT.resolve()
    wanted = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.executable).resolve().parent}
    for entry in sys.path:
        if entry and Path(entry).exists():
            wanted.add(Path(entry).resolve())
    keep: list[Path] = []
    for path in sorted(wanted, key=lambda p: len(p.parts)):
        path = path.resolve() if path.exists() else path
        if not path.exists() or path == root or root.is_relative_to(path):
            continue
        if path.is_relative_to(root) and not any(
            part in (".venv", "venv") or part.startswith(".venv") for part in path.relative_to(root).parts
        ):
            continue  # never the repository's own code
        if not any(path.is_relative_to(h) for h in hidden):
            continue
        if any(path.is_relative_to(k) for k in keep):
            continue
        keep.append(path)
    return [str(p) for p in keep]


_shared: Sandbox | None = None
_shared_lock = threading.Lock()


def shared_sandbox() -> Sandbox:
    """The process-wide sandbox the app and the CLI use (started lazily, closed at exit)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Sandbox()
            atexit.register(_shared.close)
        return _shared


def isolation_note() -> str:
    """What the page says about the sandbox: the shared one's mode once it runs, else what it will use."""
    mode = _shared.isolation if _shared is not None else ("bwrap" if bwrap_path() else "rlimits")
    return ISOLATION_NOTES[mode]


def reduced_protection() -> bool:
    return (_shared.isolation if _shared is not None else ("bwrap" if bwrap_path() else "rlimits")) != "bwrap"


def warm_up_in_background() -> None:
    """Start the shared zygote now (about 2 s) so the learner's first Run is fast."""
    threading.Thread(target=lambda: _try_start(shared_sandbox()), daemon=True, name="sandbox-warm-up").start()


def _try_start(sandbox: Sandbox) -> None:
    with contextlib.suppress(RuntimeError):
        sandbox.start()


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
