"""The sandbox for learners' code, seen from the app: a warm zygote process, started once, asked per submission.

Learners' code is hostile. It never runs in the app's process: `Sandbox.run` sends the code and the
case inputs (plain JSON) to a zygote process, which forks one supervised child per submission (see
app/grading/sandbox_runner.py for what happens there) and sends back plain JSON outputs. The
comparison with the reference happens here, in the parent; the reference and the expected values
never enter the sandbox.

Layers of protection, outermost first:

- bubblewrap, when installed (`bwrap`): no network (own network namespace), own PID, IPC and UTS
  namespaces, and a file system built from nothing: the system's programs and libraries (/usr),
  the Python installation and its packages, all read-only, /dev, /proc, and a 64 MiB tmpfs as
  the only writable place. The repository, other checkouts beside it, home directories, /run,
  /etc and the data directory are not there at all. A new session, and the capabilities cut
  down to the few the zygote needs to switch uids.
- a seccomp filter (libseccomp), loaded in the zygote and inherited by every fork: no new
  namespaces, mounts, ptrace, keyrings, bpf, perf events, io_uring or kernel modules.
- per submission: a uid of its own when the zygote runs as root (so it can signal no other
  process, and every process it leaves behind can be found and killed), rlimits on CPU time,
  address space, file size, processes and open files, no-new-privileges, a private directory
  (deleted after it), an empty environment, a wall-clock limit after which every descendant is
  killed, and, where the kernel has Landlock, writes only beneath that directory (so nothing it
  leaves in /tmp or /dev/shm reaches the next submission when both have the server's uid).
- nothing of one submission reaches the next: the zygote, whose memory every submission inherits
  by fork, never decodes a request or an answer, and zeroes the buffers it copies them through.
- the zygote's environment is scrubbed before it starts, so no secret of the app reaches it.
- what comes back is checked here (`Answer`): a malformed or forged report is a failed attempt
  with a message, never an exception in the grader.

Without bwrap (`Sandbox.isolation == "rlimits"`) the per-submission layer and the filter still
apply, but the code can read what the server can read (the repository included) and can open
network connections. Without libseccomp the filter is missing. The app says so on the page.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import inspect
import json
import math
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
from typing import Annotated, Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app.grading import sandbox_runner
from app.settings import ROOT, data_dir_override

BWRAP_ENV = "RLDOJO_SANDBOX"  # "bwrap" (default when installed), "rlimits" to force the plain mode
UID_BASE = 61000  # submissions' uids: blocks of UID_BLOCK, one block per zygote on this machine
UID_BLOCK = 100
UID_BLOCKS = 10
UID_LOCKS = Path(tempfile.gettempdir()) / "rldojo-sandbox-uids"
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

# The system's programs and libraries, read-only inside bubblewrap; with the Python installation,
# /dev, /proc and a private /tmp, this is all a submission sees.
SYSTEM_PATHS = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
)

ISOLATION_NOTES = {
    "bwrap": "Your code runs in a bubblewrap sandbox: no network, no view of the server's files, "
    "limits on time, memory, files and processes.",
    "rlimits": "Reduced protection: bubblewrap is not installed on this server, so your code runs with "
    "limits on time, memory, files and processes, but could read the server's files and use the network.",
}
NO_FILTER_NOTE = (
    "Reduced protection: libseccomp is not installed on this server, so no system-call filter stops "
    "your code from creating namespaces or tracing processes."
)


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
    def from_answer(cls, answer: Any, cases: int | None = None) -> SandboxResult:
        """A result from the zygote's answer, checked: anything malformed becomes a failed attempt."""
        try:
            checked = Answer.model_validate(answer)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the answer"
            stdout = answer.get("stdout") if isinstance(answer, dict) else None
            return cls(
                status="error",
                stage="report",
                error=f"the report of the run was malformed ({where}: {first['msg']})"[:300],
                stdout=stdout[: sandbox_runner.MAX_STDOUT_CHARS] if isinstance(stdout, str) else "",
            )
        if checked.status == "ok" and cases is not None and len(checked.results) != cases:
            return cls(
                status="error",
                stage="report",
                error=f"the report of the run has {len(checked.results)} results for {cases} cases",
                stdout=checked.stdout,
            )
        known = {name for name in inspect.signature(cls).parameters}
        return cls(**{k: v for k, v in checked.model_dump().items() if k in known})


class _Checked(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class EncodedValue(_Checked):
    """A number, array or tensor as the runner encodes it (`sandbox_runner.encode_output`)."""

    type: Literal["int", "float", "array", "tensor"]
    shape: list[Annotated[int, Field(ge=0, le=10**9)]] = Field(max_length=32)
    values: list[float | Literal["nan", "inf", "-inf"]]

    @model_validator(mode="after")
    def _shape_holds_the_values(self) -> EncodedValue:
        if math.prod(self.shape) != len(self.values):
            raise ValueError(f"shape {self.shape} does not hold {len(self.values)} values")
        return self


class CaseResult(_Checked):
    ok: bool
    output: EncodedValue | None = None
    grads: dict[str, EncodedValue | None] | None = None
    error: str = Field("", max_length=2000)
    line: int | None = Field(None, ge=0, le=10**7)

    @model_validator(mode="after")
    def _a_passing_case_has_an_output(self) -> CaseResult:
        if self.ok and self.output is None:
            raise ValueError("a case that ran has no output")
        return self


class Answer(_Checked):
    """What the sandbox may say about one submission; anything else in it is a forgery or a bug."""

    model_config = ConfigDict(strict=True, extra="ignore")
    status: Literal["ok", "error", "timeout", "cpu", "killed", "crashed"]
    results: list[CaseResult] = Field(default_factory=list)
    error: str = Field("", max_length=2000)
    stage: str = Field("", max_length=100)
    line: int | None = Field(None, ge=0, le=10**7)
    stdout: str = Field("", max_length=4 * sandbox_runner.MAX_STDOUT_CHARS)
    wall_ms: float = 0.0


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
        self._write_lock = threading.Lock()  # one request at a time on the zygote's stdin
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._stderr: deque[str] = deque(maxlen=50)
        self._tmp_root: str | None = None
        self._uid_lock: BinaryIO | None = None  # held while the zygote runs: its block of uids
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
        config: dict[str, Any] = {"uid_base": None, "uid_count": UID_BLOCK}
        if os.geteuid() == 0:
            config["uid_base"], self._uid_lock = claim_uid_block()
        source = inspect.getsource(sandbox_runner)
        python = interpreter()
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
        weakref.finalize(self, _end, proc, self._tmp_root, self._uid_lock)
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
        # Nothing is there but what is bound: the root is bubblewrap's own empty tmpfs.
        system = [path for path in SYSTEM_PATHS if os.path.lexists(path)]
        made: set[Path] = set()
        for path in system:
            if os.path.islink(path) and Path(path).parent == Path("/"):  # /lib -> usr/lib (merged /usr)
                args += ["--symlink", os.readlink(path), path]
                continue
            for parent in reversed(Path(path).parents[:-1]):  # /etc for /etc/ld.so.cache, readable by all
                if parent not in made:
                    made.add(parent)
                    args += ["--perms", "0755", "--dir", str(parent)]
            args += ["--ro-bind", path, path]
        bound = [Path(os.path.realpath(path)) for path in system]
        hidden = [p for p in private_paths() if any(p.is_relative_to(b) for b in bound)]
        for path in hidden:  # the repository inside a system folder (/usr/src/app, say): hide it again
            args += ["--size", str(1024 * 1024), "--tmpfs", str(path)]
        empty = [*hidden, Path("/tmp")]  # places that exist inside, but empty

        def exists_inside(path: Path) -> bool:
            covered = any(path.is_relative_to(b) for b in bound)
            return covered and not any(path.is_relative_to(e) for e in empty)

        for path in python_paths():
            if exists_inside(Path(path)):
                continue
            # bwrap makes missing parent folders 0700; a submission's own uid must walk through them.
            for parent in reversed(Path(path).parents):
                if parent != Path("/") and parent not in made and not exists_inside(parent) and parent not in empty:
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
        if self._uid_lock is not None:  # after the zygote is gone: its uids are free again
            self._uid_lock.close()
            self._uid_lock = None

    def _fail_pending(self, message: str) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_result({"status": "crashed", "stage": "sandbox", "error": message})

    # -- I/O threads ------------------------------------------------------------------------

    def _read_answers(self, proc: subprocess.Popen[bytes], ready: Future[dict[str, Any]]) -> None:
        """Answers come framed (`sandbox_runner.frame`): a header with the request's id and a length."""
        assert proc.stdout is not None
        while True:
            header = proc.stdout.read(sandbox_runner.HEADER_BYTES)
            try:
                ident, length = sandbox_runner.unframe(header)
            except ValueError:
                break  # the end, or a stream out of step: either way this zygote is done
            payload = proc.stdout.read(length)
            if len(payload) < length:
                break
            try:
                answer = json.loads(payload)
            except (ValueError, RecursionError):
                answer = {"status": "error", "stage": "report", "error": "the answer could not be read"}
            if not ready.done():
                ready.set_result(answer if isinstance(answer, dict) else {})
                continue
            with self._lock:
                future = self._pending.pop(ident, None)
            if future is not None and not future.done():
                future.set_result(answer)
        if proc.poll() is None:  # out of step: end it, the next run starts a fresh one
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, 9)
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
        payload = json.dumps(request).encode()
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            try:
                self._ensure_started()
            except RuntimeError as exc:
                return SandboxResult(status="unavailable", error=str(exc))
            self._next_id += 1
            ident = self._next_id
            self._pending[ident] = future
            proc = self._proc
            assert proc is not None and proc.stdin is not None
        # Written outside self._lock, which the thread reading answers needs: a request larger than the
        # pipe waits for the zygote, which may be waiting for that thread to take a large answer.
        try:
            with self._write_lock:
                proc.stdin.write(sandbox_runner.frame(ident, len(payload)) + payload)
                proc.stdin.flush()
        except (OSError, ValueError):  # ValueError: closed meanwhile by a restart
            with self._lock:
                self._pending.pop(ident, None)
                if self._proc is proc:
                    self._close_locked()
            return SandboxResult(status="crashed", error="the sandbox had stopped; it will restart, try again")
        try:
            answer = future.result(timeout=float(limits["wall_s"]) + 10.0)
        except TimeoutError:
            with self._lock:  # the zygote did not answer in time: it is wedged, start afresh
                if self._proc is proc:
                    self._close_locked()
            return SandboxResult(status="timeout", error="the sandbox did not answer in time; it has been restarted")
        return SandboxResult.from_answer(answer, len(cases))

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)


def _end(proc: subprocess.Popen[bytes], tmp_root: str | None, uid_lock: BinaryIO | None = None) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, 9)
    if proc.stdin:  # the zygote exits when its requests end, and bwrap's namespace with it
        with contextlib.suppress(OSError):
            proc.stdin.close()
    if tmp_root:
        shutil.rmtree(tmp_root, ignore_errors=True)
    if uid_lock is not None:  # a file object: closing it twice is harmless
        uid_lock.close()


def _extra(case: dict[str, Any]) -> dict[str, Any]:
    return {"grad": list(case["grad"])} if case.get("grad") else {}


def claim_uid_block() -> tuple[int, BinaryIO | None]:
    """The first uid of a block no other zygote on this machine uses, and the lock that holds it.

    Without bubblewrap's PID namespace, a supervisor's clean-up kills every process of its
    submission's uid: two zygotes with the same uids killed each other's submissions.
    """
    with contextlib.suppress(OSError):
        UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
        if UID_LOCKS.is_symlink() or UID_LOCKS.stat().st_uid != os.geteuid():
            raise OSError(f"{UID_LOCKS} is not ours")
        for block in range(UID_BLOCKS):
            lock = os.fdopen(os.open(UID_LOCKS / f"{block}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600), "r+b")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                continue
            return UID_BASE + block * UID_BLOCK, lock
    return UID_BASE, None  # more zygotes than blocks, or no place for the locks: share the first block


def interpreter() -> str:
    """This Python, by a path that holds inside the sandbox: folder links resolved (a worktree's `.venv`
    may be a link to another checkout's), the last link kept (a virtual environment is found by it)."""
    folder, name = os.path.split(sys.executable)
    return os.path.join(os.path.realpath(folder), name)


def private_paths() -> list[Path]:
    """What must never be visible inside: the repository and the data directory."""
    out = [ROOT.resolve()]
    data_dir = data_dir_override()
    if data_dir:
        out.append(data_dir.resolve())
    return out


def python_paths() -> list[str]:
    """The Python installation and its packages, bound read-only inside bubblewrap; nothing else of ours.

    Only the installation's own folders (its prefixes) and the entries of `sys.path` inside them:
    never the repository, a folder beside it, or source put on the path from elsewhere.
    """
    prefixes = {Path(os.path.realpath(p)) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    prefixes.add(Path(os.path.realpath(interpreter())).parent)
    wanted = set(prefixes)
    for entry in sys.path:
        real = Path(os.path.realpath(entry)) if entry else None
        if real is not None and real.exists() and any(real.is_relative_to(prefix) for prefix in prefixes):
            wanted.add(real)
    private = private_paths()
    keep: list[Path] = []
    for path in sorted(wanted, key=lambda p: len(p.parts)):
        if not path.exists() or path == Path("/") or any(path.is_relative_to(k) for k in keep):
            continue
        if any(r.is_relative_to(path) for r in private):  # the installation is the repository, or holds it
            continue
        if any(path.is_relative_to(r) for r in private) and not _is_virtualenv_part(path, private):
            continue  # never the repository's own code
        keep.append(path)
    return [str(p) for p in keep]


def _is_virtualenv_part(path: Path, private: list[Path]) -> bool:
    for root in private:
        if path.is_relative_to(root):
            return any(part in (".venv", "venv") or part.startswith(".venv") for part in path.relative_to(root).parts)
    return False


def seccomp_installed() -> bool:
    """Is libseccomp here for the zygote's system-call filter?"""
    try:
        ctypes.CDLL("libseccomp.so.2")
    except OSError:
        return False
    return True


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


def _mode_and_filter() -> tuple[str, bool]:
    """The shared sandbox's mode and whether its system-call filter is on; before it starts, what it will have."""
    if _shared is not None and _shared.info:
        return _shared.isolation, bool(_shared.info.get("syscall_filter"))
    mode = _shared.isolation if _shared is not None else ("bwrap" if bwrap_path() else "rlimits")
    return mode, seccomp_installed()


def isolation_note() -> str:
    """What the page says about the sandbox: the shared one's mode once it runs, else what it will use."""
    mode, filtered = _mode_and_filter()
    return ISOLATION_NOTES[mode] + ("" if filtered else " " + NO_FILTER_NOTE)


def reduced_protection() -> bool:
    mode, filtered = _mode_and_filter()
    return mode != "bwrap" or not filtered


def warm_up_in_background() -> None:
    """Start the shared zygote now (about 2 s) so the learner's first Run is fast."""
    threading.Thread(target=lambda: _try_start(shared_sandbox()), daemon=True, name="sandbox-warm-up").start()


def _try_start(sandbox: Sandbox) -> None:
    with contextlib.suppress(RuntimeError):
        sandbox.start()


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
