"""Hostile submissions: each attack fails that attempt with a clear message, the grader keeps serving,
and an honest submission right after still passes.

Every attack is graded as an answer to the `discounted-returns` drill, through the same path the
app uses. The battery runs in each isolation mode this machine offers: "bwrap" (bubblewrap) and
"rlimits" (no bubblewrap: rlimits, a uid of its own when the server is root, the supervisor's
clean-up). An attack that only bubblewrap contains (reading the repository, the network) is
checked in "bwrap" mode and listed in `ONLY_BWRAP`, which is what docs/benchmarks.md reports.
"""

from __future__ import annotations

import os
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import algorithms.returns
from app.grading.bank import load_questions
from app.grading.graders import Grade, grade_implement
from app.grading.sandbox import Sandbox
from app.grading.solutions import reference_solution
from tests.app.grading.conftest import isolation_modes

LIMITS = {"cpu_s": 1, "wall_s": 1.0}
# Filling the 64 MiB tmpfs takes under 0.1 s of CPU but, on a loaded machine (2 cores, load 10),
# more than 1 s of wall clock: the wall limit then stopped it first and the test failed (2 runs in 3).
# The disk limit is what these attacks test, so their clock is longer; the CPU limit stays.
ATTACK_LIMITS = {name: {"cpu_s": 1, "wall_s": 10.0} for name in ("disk-filler", "disk-filler-many-files")}
SECRET_NAME, SECRET_VALUE = "RLDOJO_TEST_API_KEY", "sk-test-4f1d2c9e-not-for-learners"
ANSWER_KEY = os.path.abspath(algorithms.returns.__file__)
ONLY_BWRAP = {"read-answer-key", "network-loopback", "network-outside", "disk-filler-many-files"}


def drill(body: str) -> str:
    """A submission for discounted_returns whose body is hostile."""
    head = "import os, sys, time, signal, socket\nimport numpy as np\n\n\ndef discounted_returns(rewards, gamma):\n"
    return head + textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", "    ")


ATTACKS: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (the body of discounted_returns, phrases of which the feedback must contain one)
    "infinite-loop": (
        """
        while True:
            pass
        """,
        ("CPU time", "time limit"),
    ),
    "sleep": ("time.sleep(60)", ("time limit",)),
    "memory-bomb": (
        """
        block = bytearray(16 * 1024**3)
        return np.zeros(len(rewards))
        """,
        ("MemoryError",),
    ),
    "memory-creep": (
        """
        blocks = []
        while True:
            blocks.append(np.ones(10**7))
        """,
        ("MemoryError", "CPU time", "time limit", "memory"),
    ),
    "fork-bomb": (
        """
        for _ in range(12):  # 4096 processes if nothing stops it
            try:
                os.fork()
            except OSError:
                pass
        return np.zeros(len(rewards))
        """,
        ("different values",),
    ),
    "setsid-escape": (
        """
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                print('STRAY', os.getpid(), flush=True)
                time.sleep(120)
            os._exit(0)
        time.sleep(0.05)
        return np.zeros(len(rewards))
        """,
        ("different values", "time limit"),
    ),
    "disk-filler": (
        """
        with open('filler', 'wb') as f:
            for _ in range(64):
                f.write(b'x' * 1024 * 1024)
        return np.zeros(len(rewards))
        """,
        ("File too large",),
    ),
    "disk-filler-many-files": (
        """
        for i in range(200):
            with open(f'filler{i}', 'wb') as f:
                for _ in range(3):
                    f.write(b'x' * 1024 * 1024)
        return np.zeros(len(rewards))
        """,
        ("No space left",),
    ),
    "read-answer-key": (
        f"return np.array([float(len(open({ANSWER_KEY!r}).read()))])",
        ("No such file", "Permission denied"),
    ),
    "read-outside": (
        "return np.array([float(len(open('/etc/shadow').read()))])",
        ("Permission denied", "No such file"),
    ),
    "network-loopback": (
        """
        socket.create_connection(('127.0.0.1', PORT), timeout=1)
        return np.zeros(1)
        """,
        ("refused", "unreachable"),
    ),
    "network-outside": (
        """
        socket.create_connection(('192.0.2.1', 80), timeout=1)
        return np.zeros(1)
        """,
        ("unreachable", "timed out"),
    ),
    "environment": (
        """
        import glob
        found = [k for k, v in os.environ.items() if 'sk-test' in v or 'API_KEY' in k]
        for path in glob.glob('/proc/*/environ'):
            try:
                data = open(path, 'rb').read()
            except OSError:
                continue
            if b'sk-test' in data:
                found.append(path)
        if found:
            raise RuntimeError('LEAKED ' + repr(found))
        return np.zeros(len(rewards))
        """,
        ("different values",),
    ),
    "kill-the-grader": (
        """
        for pid in (os.getppid(), ZYGOTE):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return np.zeros(len(rewards))
        """,
        ("different values", "killed", "stopped"),
    ),
    "always-equal": (
        """
        class Anything:
            def __eq__(self, other):
                return True
            __hash__ = None
        return Anything()
        """,
        ("expected a number, a numpy array or a torch tensor",),
    ),
    "frame-inspection": (
        """
        import gc, inspect
        found = []
        frame = sys._getframe(1)
        while frame is not None:
            found += [n for n in frame.f_locals if 'expect' in n or 'reference' in n]
            frame = frame.f_back
        found += [o for o in gc.get_objects() if isinstance(o, dict) and 'expected' in o][:1]
        found += [f for f in inspect.stack() if 'grade' in f.function]
        if found:
            raise RuntimeError('FOUND ' + repr(found)[:200])
        return np.zeros(len(rewards))
        """,
        ("different values",),
    ),
    "monkey-patch-reference": (
        """
        import algorithms.returns as reference
        reference.discounted_returns = lambda rewards, gamma: np.zeros(len(rewards))
        return np.zeros(len(rewards))
        """,
        ("No module named 'algorithms'",),
    ),
    "fake-module-in-sys-modules": (
        """
        import types
        fake = types.ModuleType('algorithms.returns')
        fake.discounted_returns = lambda r, g: np.zeros(len(r))
        sys.modules['algorithms.returns'] = fake
        return np.zeros(len(rewards))
        """,
        ("different values",),
    ),
}


@pytest.fixture(scope="module", params=isolation_modes())
def sandbox(request: pytest.FixtureRequest, warm_sandbox: Sandbox) -> Iterator[Sandbox]:
    if request.param == warm_sandbox.isolation:  # the app's own sandbox: what learners get
        yield warm_sandbox
        return
    sandbox = Sandbox(request.param)
    sandbox.start()
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="module")
def listener() -> Iterator[int]:
    """A server on the host's loopback that a sandboxed submission must not reach."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture(autouse=True)
def fake_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)


def everything_said(grade: Grade) -> str:
    return f"{grade.feedback} {grade.details}"


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_fails_and_an_honest_submission_still_passes(sandbox: Sandbox, attack: str, listener: int) -> None:
    if attack in ONLY_BWRAP and sandbox.isolation != "bwrap":
        pytest.skip("contained by bubblewrap only (the page says so when bwrap is missing)")
    if attack == "kill-the-grader" and not sandbox.info.get("uid_switch"):
        pytest.skip("without a uid of its own a submission may kill the zygote; the next run restarts it")
    question = load_questions().get("discounted-returns")
    body, phrases = ATTACKS[attack]
    zygote = sandbox.info["pid"]
    code = drill(body).replace("PORT", str(listener)).replace("ZYGOTE", str(zygote))
    starts = sandbox.starts

    grade = grade_implement(question, code, sandbox=sandbox, limits=ATTACK_LIMITS.get(attack, LIMITS))

    said = everything_said(grade)
    assert not grade.correct, said
    assert any(phrase in said for phrase in phrases), said
    assert SECRET_VALUE not in said and "LEAKED" not in said and "FOUND" not in said
    honest = grade_implement(question, reference_solution(question), sandbox=sandbox)
    assert honest.correct, everything_said(honest)
    if sandbox.info.get("uid_switch"):
        assert sandbox.starts == starts, "the zygote had to restart"
    assert algorithms.returns.discounted_returns(np.array([1.0, 1.0]), 0.5).tolist() == [1.5, 1.0]


SETSID_ESCAPE_REPORTED = """
    ready_r, ready_w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(ready_w, str(os.getpid()).encode() + b"\\n")
            time.sleep(120)
        os._exit(0)
    print('STRAY', os.read(ready_r, 32).split()[0].decode(), flush=True)  # once the stray runs, however slowly
    return np.zeros(len(rewards))
    """


def test_setsid_escapee_is_killed(sandbox: Sandbox) -> None:
    # The stray reports its pid through a pipe before the submission returns: with a fixed sleep
    # instead, a loaded machine sometimes answered before the stray had printed (IndexError below).
    code = drill(SETSID_ESCAPE_REPORTED)
    result = sandbox.run(
        code, "discounted_returns", [{"args": {"rewards": np.ones(2), "gamma": 0.5}}], {"cpu_s": 2, "wall_s": 10.0}
    )
    assert result.status == "ok", result
    stray = int(result.stdout.split("STRAY")[1].split()[0])
    time.sleep(0.2)  # the supervisor answers first, then cleans up
    if sandbox.isolation == "bwrap":  # the stray's pid is in the sandbox's own PID namespace: ask from inside
        # Every process of a submission runs under a uid of its own: any other one but this probe is a stray.
        probe = textwrap.dedent(
            """\
            import os
            def f():
                mine = []
                for p in os.listdir('/proc'):
                    if p.isdigit() and int(p) != os.getpid():
                        try:
                            uid = open(f'/proc/{p}/status').read().split('Uid:')[1].split()[0]
                        except (OSError, IndexError):
                            continue
                        mine += [int(p)] * (uid != '0')
                return mine
            """
        )
        seen = sandbox.run(probe, "f", [{"args": {}}], LIMITS).results[0]["output"]["values"]
        assert seen == [] and stray > 0
    else:
        assert not os.path.exists(f"/proc/{stray}"), "the escaped process is still alive"


def test_the_environment_inside_is_empty_of_the_servers_variables(sandbox: Sandbox) -> None:
    probe = "import os\ndef f():\n    return [float(len(os.environ)), float(any('RLDOJO' in k for k in os.environ))]\n"
    result = sandbox.run(probe, "f", [{"args": {}}], LIMITS)
    count, leaked = result.results[0]["output"]["values"]
    assert leaked == 0.0 and count <= 5


def test_the_repository_is_invisible_under_bwrap(sandbox: Sandbox) -> None:
    if sandbox.isolation != "bwrap":
        pytest.skip("bwrap only")
    root = os.path.dirname(os.path.dirname(ANSWER_KEY))
    probe = (
        "import os\ndef f():\n"
        f"    entries = os.listdir({root!r}) if os.path.isdir({root!r}) else []\n"
        f"    return [float(len(entries)), float(entries == ['.venv']), float(os.path.exists({ANSWER_KEY!r}))]\n"
    )
    result = sandbox.run(probe, "f", [{"args": {}}], LIMITS)
    entries, only_venv, exists = result.results[0]["output"]["values"]
    assert exists == 0.0
    assert entries == 0 or only_venv  # at most the virtual environment, bound back read-only


def test_a_wedged_or_dead_zygote_is_restarted(sandbox: Sandbox) -> None:
    question = load_questions().get("discounted-returns")
    os.killpg(sandbox._proc.pid, 9)
    time.sleep(0.2)
    grade = grade_implement(question, reference_solution(question), sandbox=sandbox)
    assert grade.correct, grade.feedback


def test_without_bubblewrap_the_page_states_the_reduced_protection(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.grading import sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "_shared", None)
    monkeypatch.setenv("RLDOJO_SANDBOX", "rlimits")
    assert sandbox_module.reduced_protection()
    assert "Reduced protection" in sandbox_module.isolation_note()
    assert "read the server's files" in sandbox_module.isolation_note()


@pytest.mark.slow
def test_a_bubblewrap_that_cannot_start_falls_back_to_rlimits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    sandbox = Sandbox()
    try:
        assert sandbox.isolation == "bwrap"
        result = sandbox.run("def f(x):\n    return x + 1\n", "f", [{"args": {"x": 1}}], LIMITS)
        assert result.status == "ok" and result.results[0]["output"]["values"] == [2]
        assert sandbox.isolation == "rlimits" and "No permissions" in sandbox.fallback_reason
    finally:
        sandbox.close()


def test_private_tmp_is_mounted_before_the_python_binds() -> None:
    # A clone under /tmp (as CI may make) keeps its .venv there: the tmpfs over /tmp must come first,
    # or it hides the interpreter the zygote runs ("bwrap: execvp .../.venv/bin/python").
    from app.grading.sandbox import Sandbox, bwrap_path

    if not bwrap_path():
        pytest.skip("bubblewrap is not installed")
    args = Sandbox(isolation="bwrap")._bwrap_args()  # the constructor starts nothing
    tmp_mount = next(i for i in range(len(args) - 1) if args[i] == "--tmpfs" and args[i + 1] == "/tmp")
    binds = [i for i in range(len(args) - 1) if args[i] == "--ro-bind" and args[i + 1] != "/"]
    assert binds and all(tmp_mount < i for i in binds)
