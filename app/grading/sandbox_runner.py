"""The process that runs learners' code: a warm zygote that forks one supervised child per submission.

This file is self-contained on purpose (standard library, numpy, torch): the sandbox starts it as
`python -I -c <this source>` inside bubblewrap, where the repository is not visible, so it can
import nothing of ours. The parent (app/grading/sandbox.py) also imports it for `encode_input`
and `encode_output`, so both sides agree on the wire format.

Process tree, one submission:

    zygote (numpy and torch imported once; reads requests on stdin, answers on stdout)
      `- supervisor (forked ahead of time, waiting; a child subreaper: orphans of the
         |           submission are re-parented to it)
         `- runner (forked ahead of time too, in a new session, waiting for the request; then
                    rlimits, its own uid when the zygote may switch uids, no-new-privileges,
                    a private directory and (Landlock) writes only there, closed descriptors,
                    an empty environment; runs the code)

A request goes to the waiting pair, so a submission pays for neither fork; the zygote forks the
next pair while it is idle. The supervisor enforces the wall clock, answers, and then kills every
descendant of the runner (also those that called setsid, and, with a uid of its own, every
process of that uid) and deletes the private directory. Only plain JSON crosses: inputs come in
tagged (`{"__ndarray__": ...}`), outputs go out as numbers and lists, and the expected answers
never enter this process.

Nothing of one submission may reach the next, which is forked from the zygote's memory. So the
zygote never decodes a request or an answer: each comes framed (a fixed header with an id and a
length, see `frame`), and the zygote copies the bytes through fixed buffers that it zeroes after
each use (and that a new fork zeroes again, should another answer be half-read at that moment).
Only the supervisor, forked before the request exists, and its runner ever see the request.

A seccomp filter (libseccomp, loaded once in the zygote and inherited by every fork) refuses the
system calls a submission has no use for and that could widen its reach: new namespaces, mounts,
ptrace and reading other processes' memory, keyrings, bpf, perf, io_uring, modules and the like.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import gc
import json
import math
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
from typing import Any

MAX_RESULT_BYTES = 2_000_000
MAX_STDOUT_CHARS = 2_000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
DEFAULT_LIMITS = {"cpu_s": 3, "wall_s": 5.0, "memory_mb": 512, "fsize_mb": 4, "nproc": 16, "nofile": 64}
SAFE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent", "OMP_NUM_THREADS": "1"}
HEADER_BYTES = 32  # b"<id, 15 digits> <length, 15 digits>\n"
ANSWER_CAPACITY = MAX_RESULT_BYTES + 256 * 1024  # one answer: the report, the printed text, the timing
RELAY_BYTES = 64 * 1024

# System calls no submission needs, refused with EPERM by the filter the zygote loads (names this
# libseccomp does not know are skipped). clone() is refused only with a namespace flag; clone3()
# gets ENOSYS, as its flags cannot be inspected, and glibc then falls back to clone().
REFUSED_SYSCALLS = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "ptrace", "process_vm_readv", "process_vm_writev",
    "process_madvise", "kcmp", "pidfd_getfd", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct", "quotactl",
    "quotactl_fd", "lookup_dcookie", "open_by_handle_at", "name_to_handle_at", "syslog", "sethostname",
    "setdomainname", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm",
    "vhangup", "uselib", "fanotify_init", "nfsservctl",
)  # fmt: skip
CLONE_NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}


# ---------------------------------------------------------------------------------------------
# The wire format (used on both sides)
# ---------------------------------------------------------------------------------------------


def frame(ident: int, length: int) -> bytes:
    """The header before every request to the zygote and every answer from it: id and payload length."""
    return f"{ident:>15} {length:>15}\n".encode()


def unframe(header: bytes | bytearray) -> tuple[int, int]:
    """(id, length) from a header; ValueError when it is not one."""
    if len(header) != HEADER_BYTES or header[-1:] != b"\n":
        raise ValueError("not a frame header")
    return int(header[:15]), int(header[16:31])


def encode_input(value: Any) -> Any:
    """A case argument as JSON: numbers as they are, arrays and tensors tagged with dtype and shape."""
    import numpy as np

    if type(value) in (bool, int, float, str) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.reshape(-1).tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if type(value).__module__.startswith("torch"):
        return {
            "__tensor__": value.detach().cpu().reshape(-1).tolist(),
            "dtype": str(value.dtype).removeprefix("torch."),
            "shape": list(value.shape),
            "requires_grad": bool(value.requires_grad),
        }
    if isinstance(value, list | tuple):
        return [encode_input(v) for v in value]
    raise TypeError(f"cannot send a {type(value).__name__} into the sandbox")


def decode_input(value: Any) -> Any:
    if isinstance(value, dict) and "__ndarray__" in value:
        import numpy as np

        return np.asarray(value["__ndarray__"], dtype=value["dtype"]).reshape(value["shape"])
    if isinstance(value, dict) and "__tensor__" in value:
        import torch

        dtype = getattr(torch, value["dtype"])
        tensor = torch.tensor(value["__tensor__"], dtype=dtype).reshape(value["shape"])
        return tensor.requires_grad_(True) if value.get("requires_grad") else tensor
    if isinstance(value, list):
        return [decode_input(v) for v in value]
    return value


class OutputError(TypeError):
    """A value that is not a number, an array or a tensor of numbers."""


def _finite_or_tag(x: float) -> float | str:
    return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))


def encode_output(value: Any) -> dict[str, Any]:
    """A returned value as plain JSON: {"type": "int" | "float" | "array" | "tensor", "shape", "values"}.

    Anything else is refused, so an object that only pretends to be a number (say, with an
    `__eq__` that is always true) never reaches a comparison.
    """
    import numpy as np

    if type(value) is bool or isinstance(value, np.bool_):
        return {"type": "int", "shape": [], "values": [int(value)]}
    if type(value) is int or isinstance(value, np.integer):
        whole = int(value)  # one beyond float range travels as an infinity (JSON refuses 4300+ digits)
        return {
            "type": "int",
            "shape": [],
            "values": [whole if whole.bit_length() <= 1000 else ("inf" if whole > 0 else "-inf")],
        }
    if type(value) is float or isinstance(value, np.floating):
        return {"type": "float", "shape": [], "values": [_finite_or_tag(float(value))]}
    if type(value).__module__.startswith("torch") and type(value).__name__ in ("Tensor", "Parameter"):
        array = value.detach().cpu().to(dtype=__import__("torch").float64).numpy()
        kind = "tensor"
    elif type(value) is np.ndarray:
        if value.dtype == object or value.dtype.kind not in "biuf":
            raise OutputError(f"returned an array of {value.dtype}; expected numbers")
        array, kind = value.astype(np.float64), "array"
    elif type(value) in (list, tuple):
        try:
            array = np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise OutputError(f"returned a {type(value).__name__} that is not a list of numbers ({exc})") from None
        kind = "array"
    else:
        raise OutputError(f"returned a {type(value).__name__}; expected a number, a numpy array or a torch tensor")
    return {"type": kind, "shape": list(array.shape), "values": [_finite_or_tag(float(v)) for v in array.reshape(-1)]}


# ---------------------------------------------------------------------------------------------
# The runner: one submission, inside every limit
# ---------------------------------------------------------------------------------------------


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


class _ArgCmp(ctypes.Structure):  # libseccomp's struct scmp_arg_cmp
    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7


def _scmp_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


def load_syscall_filter() -> str:
    """Refuse REFUSED_SYSCALLS (and namespace flags to clone) in this process and all it forks from now on.

    Returns "" when the filter is loaded, else why not (libseccomp missing, say): the zygote says
    so in its first message and the page says the protection is reduced.
    """
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as exc:
        return f"libseccomp is not installed ({exc})"
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        return "seccomp_init failed"
    try:
        deny = _scmp_errno(errno.EPERM)
        rules: list[tuple[str, int, _ArgCmp | None]] = [(name, deny, None) for name in REFUSED_SYSCALLS]
        rules += [("clone", deny, _ArgCmp(0, SCMP_CMP_MASKED_EQ, f, f)) for f in CLONE_NAMESPACE_FLAGS.values()]
        rules.append(("clone3", _scmp_errno(errno.ENOSYS), None))
        for name, action, cmp in rules:
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:  # not a system call on this architecture, or newer than this libseccomp
                continue
            rc = lib.seccomp_rule_add_array(ctx, action, number, int(cmp is not None), cmp)
            if rc < 0:
                return f"seccomp_rule_add({name}) failed: {os.strerror(-rc)}"
        rc = lib.seccomp_load(ctx)
        if rc < 0:
            return f"seccomp_load failed: {os.strerror(-rc)}"
        return ""
    finally:
        lib.seccomp_release(ctx)


# Landlock (Linux 5.13+, no privileges needed): a submission may write only beneath its own folder.
# Without it, a file it leaves in /tmp or /dev/shm is readable by the next submission when both have
# the server's uid (a server not run as root, where no uid of its own can be given).
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
LANDLOCK_WRITE_FILE, LANDLOCK_TRUNCATE = 1 << 1, 1 << 14
LANDLOCK_WRITES_ABI1 = (  # write a file, remove and make every kind of entry
    LANDLOCK_WRITE_FILE | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 9 | 1 << 10 | 1 << 11 | 1 << 12
)
LANDLOCK_REFER = 1 << 13  # ABI 2: link or rename across folders


class _RulesetAttr(ctypes.Structure):
    _fields_ = (("handled_access_fs", ctypes.c_uint64),)


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (0: none)."""
    rc = _libc().syscall(SYS_LANDLOCK_CREATE_RULESET, None, 0, LANDLOCK_CREATE_RULESET_VERSION)
    return max(int(rc), 0)


def restrict_writes_to(folder: str) -> bool:
    """From now on this process and its children may create, change or remove files only beneath
    `folder` (and write to /dev/null). Needs no-new-privileges first. False where Landlock is missing."""
    abi = landlock_abi()
    if abi < 1:
        return False
    handled = LANDLOCK_WRITES_ABI1 | (LANDLOCK_REFER if abi >= 2 else 0) | (LANDLOCK_TRUNCATE if abi >= 3 else 0)
    libc = _libc()
    attr = _RulesetAttr(handled)
    ruleset = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0)
    if ruleset < 0:
        return False
    try:
        file_rights = handled & (LANDLOCK_WRITE_FILE | LANDLOCK_TRUNCATE)
        for path, rights in ((folder, handled), ("/dev/null", file_rights)):
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneathAttr(rights, fd)
                if libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0):
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule({path})")
            finally:
                os.close(fd)
        if libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0):
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return True


def _apply_limits(limits: dict[str, Any], nproc: int) -> None:
    status = open("/proc/self/status").read()  # noqa: SIM115 - tiny read
    vm_kb = int(status.split("VmSize:")[1].split()[0])
    mem = vm_kb * 1024 + int(limits["memory_mb"]) * 1024 * 1024
    cpu = int(limits["cpu_s"])
    fsize = int(limits["fsize_mb"]) * 1024 * 1024
    for name, value in (
        ("RLIMIT_CPU", (cpu, cpu + 1)),
        ("RLIMIT_AS", (mem, mem)),
        ("RLIMIT_FSIZE", (fsize, fsize)),
        ("RLIMIT_NPROC", (nproc, nproc)),
        ("RLIMIT_NOFILE", (int(limits["nofile"]), int(limits["nofile"]))),
        ("RLIMIT_CORE", (0, 0)),
    ):
        resource.setrlimit(getattr(resource, name), value)


def _error_line(exc: BaseException) -> int | None:
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == "<solution>":
            line = lineno
    return line


def _describe(exc: BaseException) -> dict[str, Any]:
    text = f"{type(exc).__name__}: {exc}"
    return {"error": text[:500], "line": _error_line(exc)}


def _run_cases(request: dict[str, Any]) -> dict[str, Any]:
    code, function = request["code"], request["function"]
    namespace: dict[str, Any] = {"__name__": "solution"}
    try:
        exec(compile(code, "<solution>", "exec"), namespace)
    except BaseException as exc:
        return {"status": "error", "stage": "load", **_describe(exc)}
    fn = namespace.get(function)
    if not callable(fn):
        return {"status": "error", "stage": "load", "error": f"your code defines no function named {function}"}
    results = []
    for case in request["cases"]:
        args = {name: decode_input(value) for name, value in case["args"].items()}
        try:
            out = fn(**args)
            entry: dict[str, Any] = {"ok": True, "output": encode_output(out)}
            if case.get("grad"):
                entry["grads"] = _grads(out, args, case["grad"])
        except BaseException as exc:
            entry = {"ok": False, **_describe(exc)}
        results.append(entry)
    return {"status": "ok", "results": results}


def _grads(out: Any, args: dict[str, Any], names: list[str]) -> dict[str, Any]:
    import torch

    if not isinstance(out, torch.Tensor) or out.grad_fn is None:
        return {name: None for name in names}
    out.sum().backward()
    return {name: None if args[name].grad is None else encode_output(args[name].grad) for name in names}


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _runner(go_fd: int, workdir: str, uid: int | None, write_fd: int) -> None:
    """In the runner process: lock down, wait for the request, run the cases, write one JSON line, exit.

    Everything that does not depend on the request happens before it arrives (the runner is forked
    ahead of time), so a submission only pays for the limits, the uid switch and its own code.
    """
    me = os.getpid()
    try:
        os.setsid()
        # Open first, then move onto 0/1/2: a descriptor number freed earlier must not be reused.
        out_fd = os.open(os.path.join(workdir, "stdout.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null_fd = os.open("/dev/null", os.O_RDONLY)
        out_fd, null_fd = fcntl.fcntl(out_fd, fcntl.F_DUPFD, 10), fcntl.fcntl(null_fd, fcntl.F_DUPFD, 10)
        os.dup2(null_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        keep = sorted({0, 1, 2, write_fd, go_fd})
        for low, high in zip(keep, [*keep[1:], 65536], strict=True):
            os.closerange(low + 1, high)
        os.chdir(workdir)
        os.umask(0o077)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big write fails with an error instead
        request = json.loads(_read_all(go_fd) or b"null")
        if not isinstance(request, dict):
            os._exit(0)  # the sandbox is shutting down
        os.close(go_fd)
        nproc = int(request["limits"]["nproc"])
        if uid is None:  # sharing the server's uid: the limit counts its processes too
            nproc += _count_processes(os.getuid())
        _apply_limits(request["limits"], nproc)
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        restrict_writes_to(workdir)  # nothing left behind for the next submission (where Landlock exists)
        os.environ.clear()
        os.environ.update(SAFE_ENV, TMPDIR=workdir)  # temporary files go where the clean-up looks
        tempfile.tempdir = workdir  # the zygote's warm-up already fixed tempfile's folder (/tmp): not TMPDIR
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the runner's whole life
        sys.stderr = sys.stdout
    except BaseException as exc:
        report = {"status": "error", "stage": "sandbox", "error": f"the sandbox could not start: {exc!r}"}
    else:
        report = _run_cases(request)
    if os.getpid() != me:  # a process the learner forked came back here: it has nothing to report
        os._exit(0)
    try:
        data = (json.dumps(report) + "\n").encode()
    except (TypeError, ValueError) as exc:
        data = (json.dumps({"status": "error", "stage": "report", "error": repr(exc)}) + "\n").encode()
    try:
        sys.stdout.flush()
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]
    finally:
        os._exit(0)


def _count_processes(uid: int) -> int:
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/status") as f:
                    status = f.read()
            except OSError:
                continue
            if f"\nUid:\t{uid}\t" in status:
                count += int(status.split("Threads:")[1].split()[0])
    return count


# ---------------------------------------------------------------------------------------------
# The supervisor: the clock, the clean-up, the answer
# ---------------------------------------------------------------------------------------------


def _children() -> list[int]:
    found: list[int] = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                found += [int(pid) for pid in f.read().split()]
        except OSError:
            pass
    return found


def _kill_everything(runner: int, uid: int | None) -> int:
    """Kill the runner and every process it left behind; return how many strays were found."""
    strays = 0
    for attempt in range(200):
        if uid is not None and (attempt or _children()):  # every process of the submission's uid
            killer = os.fork()
            if killer == 0:
                try:
                    os.setuid(uid)
                    os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(killer, 0)
        for pid in _children():
            strays += pid != runner
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            return strays
        if not _children():
            return strays
        time.sleep(0.001 * min(attempt + 1, 20))
    return strays


def _spare(config: dict[str, Any], uid: int | None, request_fd: int, answer_fd: int) -> None:
    """A supervisor forked ahead of time, with its runner already forked and waiting.

    It reads one request from the zygote, hands it to its runner, enforces the wall clock, sends
    one answer, and only then kills whatever the submission left and deletes its directory.
    """
    _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    workdir = tempfile.mkdtemp(prefix="sub-", dir=config["tmp_root"])
    if uid is not None:
        os.chown(workdir, uid, uid)
    read_fd, write_fd = os.pipe()
    go_read, go_write = os.pipe()
    runner = os.fork()
    if runner == 0:
        for fd in (read_fd, go_write, request_fd, answer_fd):
            os.close(fd)
        _runner(go_read, workdir, uid, write_fd)
    os.close(write_fd)
    os.close(go_read)
    line = _read_all(request_fd)
    os.close(request_fd)
    started = time.monotonic()
    try:
        request = json.loads(line)
    except (ValueError, RecursionError):
        request = None
    if not isinstance(request, dict):  # the zygote is shutting down, or sent nothing
        os.close(go_write)
        _kill_everything(runner, uid)
        shutil.rmtree(workdir, ignore_errors=True)
        return
    limits = {**DEFAULT_LIMITS, **request.get("limits", {})}
    request["limits"] = limits
    data = json.dumps(request).encode()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(go_write, view) :]
    except OSError:
        pass  # the runner died before reading: the verdict below says so
    os.close(go_write)
    deadline = started + float(limits["wall_s"])
    chunks, size, status, timed_out = [], 0, None, False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_fd], [], [], remaining)
        if ready:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_RESULT_BYTES:
                break
            chunks.append(chunk)
            if chunk.endswith(b"\n"):  # the report is one line; a forked stray may hold the pipe open
                break
    os.close(read_fd)
    if not chunks or timed_out:  # no report: how did the runner end? (a report says it all)
        if timed_out:
            os.kill(runner, signal.SIGKILL)
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            pid, status = os.waitpid(runner, os.WNOHANG)
            if pid:
                break
            time.sleep(0.001)
        else:
            status = None
    answer = _verdict(b"".join(chunks), size, status, timed_out, limits)
    answer["stdout"] = _read_stdout(workdir)
    answer["wall_ms"] = round((time.monotonic() - started) * 1000, 2)
    data = (json.dumps(answer) + "\n").encode()
    if len(data) > ANSWER_CAPACITY:
        data = (json.dumps({"status": "error", "stage": "report", "error": "the answer was too large"}) + "\n").encode()
    with contextlib.suppress(OSError):  # the zygote is gone: nobody to answer
        _write_all(answer_fd, data)
    os.close(answer_fd)
    _kill_everything(runner, uid)  # after answering: the learner does not wait for the clean-up
    shutil.rmtree(workdir, ignore_errors=True)


def _read_stdout(workdir: str) -> str:
    """What the submission printed; the file goes at once, not with the folder after the answer."""
    path = os.path.join(workdir, "stdout.txt")
    try:
        with open(path, errors="replace") as f:
            return f.read(MAX_STDOUT_CHARS + 1)
    except OSError:
        return ""
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _verdict(data: bytes, size: int, status: int | None, timed_out: bool, limits: dict[str, Any]) -> dict[str, Any]:
    if timed_out:
        return {"status": "timeout", "error": f"stopped after {limits['wall_s']:g} s of wall-clock time"}
    if size > MAX_RESULT_BYTES:
        return {"status": "error", "stage": "report", "error": "the result was too large to send back"}
    if data:
        try:
            report = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: a forged report, nested too deep
            return {"status": "error", "stage": "report", "error": "the result could not be read back"}
        if isinstance(report, dict):
            return report
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return {"status": "cpu", "error": f"stopped after {limits['cpu_s']} s of CPU time"}
        if sig == signal.SIGKILL:
            return {"status": "killed", "error": "the process was killed (out of CPU time or memory)"}
        return {"status": "crashed", "error": f"the process died of signal {signal.Signals(sig).name}"}
    code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None
    return {"status": "crashed", "error": f"the process ended (exit status {code}) without reporting a result"}


# ---------------------------------------------------------------------------------------------
# The zygote
# ---------------------------------------------------------------------------------------------


def _warm_up() -> dict[str, Any]:
    import collections  # noqa: F401 - modules a solution may import, loaded once for every fork
    import encodings.idna  # noqa: F401
    import functools  # noqa: F401
    import itertools  # noqa: F401
    import random  # noqa: F401

    import numpy as np
    import torch
    import torch.nn.functional

    torch.set_num_threads(1)
    x = torch.linspace(-1.0, 1.0, 8, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.logsigmoid(x).sum().backward()
    torch.min(x.exp(), x.clamp(-0.5, 0.5)).mean()
    np.max(np.arange(6.0).reshape(2, 3) @ np.ones(3))
    gc.collect()
    gc.freeze()  # keep the warm heap shared with every fork instead of copied on the first GC
    return {"numpy": np.__version__, "torch": torch.__version__}


def _uid_can_run_python(uid: int) -> bool:
    """Can a fresh uid read the Python installation? (Not when it lives in root's home, say.)"""
    import numpy

    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for path in (os.__file__, numpy.__file__):
                with open(path, "rb"):
                    pass
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _wipe(buffer: bytearray | memoryview) -> None:
    """Zero a buffer in place (no copy of it is made on the way)."""
    size = len(buffer)
    if size:
        ctypes.memset((ctypes.c_char * size).from_buffer(buffer), 0, size)


def _read_exactly(fd: int, buffer: bytearray) -> bool:
    """Fill `buffer` from `fd`; False at the end of input."""
    view, got = memoryview(buffer), 0
    while got < len(buffer):
        n = os.readv(fd, [view[got:]])
        if not n:
            return False
        got += n
    return True


KILLED_ANSWER = (
    json.dumps(
        {
            "status": "killed",
            "stage": "sandbox",
            "error": "the process supervising your code was killed before it could answer",
        }
    )
    + "\n"
).encode()


def zygote(config: dict[str, Any]) -> None:
    versions = _warm_up()
    uid_base = config.get("uid_base")
    # When the installation is unreadable to other uids (Python in root's home, without bubblewrap
    # to bind it elsewhere), a submission can import only what the zygote preloaded. Safety first:
    # it still gets its own uid, never the server's root.
    readable = uid_base is None or _uid_can_run_python(int(uid_base))
    libc = _libc()
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no ptrace of the zygote, no reading its memory
    # A runner whose supervisor was killed is re-parented here, not to init, and killed below.
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    filter_problem = load_syscall_filter()
    ready = {
        "ready": True,
        "pid": os.getpid(),
        "uid": os.getuid(),
        "uid_switch": uid_base is not None,
        "uid_base": uid_base,
        "python_readable": readable,
        "syscall_filter": not filter_problem,
        "syscall_filter_problem": filter_problem,
        "landlock_abi": landlock_abi(),
        **versions,
    }
    message = json.dumps(ready).encode() + b"\n"
    _write_all(1, frame(0, len(message)) + message)
    # The only memory that ever holds a request or an answer here: fixed buffers, zeroed after use.
    header = bytearray(HEADER_BYTES)
    relay = bytearray(RELAY_BYTES)
    free: list[bytearray] = []  # answer buffers, zeroed, ready for reuse
    pending: dict[int, list[Any]] = {}  # answer fd -> [supervisor pid, request id, buffer, bytes filled]
    supervisors: set[int] = set()  # alive until reaped, clean-up included
    counter = 0

    def fork_spare() -> tuple[int, int, int]:
        """(pid, request fd to write, answer fd to read) of a new waiting supervisor."""
        nonlocal counter
        counter += 1
        uid = None if uid_base is None else int(uid_base) + counter % int(config.get("uid_count", 1000))
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                for entry in pending.values():  # another submission's answer, half-read: not ours to keep
                    _wipe(entry[2])
                _wipe(relay)
                os.close(request_write)
                os.close(answer_read)
                for other in pending:
                    os.close(other)
                if spare is not None:
                    os.close(spare[1])
                    os.close(spare[2])
                null = os.open("/dev/null", os.O_RDONLY)
                os.dup2(null, 0)  # not the zygote's requests; and no hole at fd 0
                os.close(null)
                _spare(config, uid, request_read, answer_write)
            finally:
                os._exit(0)
        os.close(request_read)
        os.close(answer_write)
        supervisors.add(pid)
        return pid, request_write, answer_read

    def relay_request(length: int, request_write: int) -> bool:
        """Copy `length` bytes from stdin to the supervisor through `relay`; False if stdin ended."""
        view, broken = memoryview(relay), False
        while length:
            n = os.readv(0, [view[: min(length, RELAY_BYTES)]])
            if not n:
                return False
            length -= n
            if not broken:
                try:
                    _write_all(request_write, view[:n])
                except OSError:
                    broken = True  # the spare died: its answer pipe closes and the request fails below
            _wipe(view[:n])
        return True

    def answer(fd: int) -> None:
        entry = pending[fd]
        buffer, filled = entry[2], entry[3]
        n = os.readv(fd, [memoryview(buffer)[filled:]]) if filled < len(buffer) else 0
        entry[3] = filled = filled + n
        if n and buffer[filled - 1] != 0x0A:  # one answer is one line: no need to wait for EOF
            return
        os.close(fd)
        del pending[fd]
        whole = filled and buffer[filled - 1] == 0x0A
        payload = memoryview(buffer)[:filled] if whole else KILLED_ANSWER
        _write_all(1, frame(entry[1], len(payload)))
        _write_all(1, payload)
        _wipe(memoryview(buffer)[:filled])
        free.append(buffer)

    spare: tuple[int, int, int] | None = None
    spare = fork_spare()
    while True:
        ready_fds, _, _ = select.select([0, *pending], [], [], 1.0)
        for fd in ready_fds:
            if fd != 0:
                answer(fd)
                continue
            if not _read_exactly(0, header):
                return
            request_id, length = unframe(header)
            if spare is None:
                spare = fork_spare()
            pid, request_write, answer_read = spare
            spare = None
            pending[answer_read] = [pid, request_id, free.pop() if free else bytearray(ANSWER_CAPACITY), 0]
            complete = relay_request(length, request_write)
            os.close(request_write)
            if not complete:
                return
        for pid in _children():  # orphans of a killed supervisor come here (we are a subreaper)
            if pid not in supervisors:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        try:
            while (pid := os.waitpid(-1, os.WNOHANG)[0]) > 0:
                supervisors.discard(pid)
        except ChildProcessError:
            pass
        if spare is not None and spare[0] not in supervisors:  # the spare died (killed?): replace it
            os.close(spare[1])
            os.close(spare[2])
            spare = None
        if spare is None and not pending:  # fork the next one while idle, not while an answer is due
            spare = fork_spare()


if __name__ == "__main__":
    zygote(json.loads(sys.argv[1]))
