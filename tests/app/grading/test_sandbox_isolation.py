"""One submission must find nothing of another: a victim with secrets, then a spy that searches for them.

The victim's secrets sit in its code, in a case input and in what it prints. The spy runs next,
through the same warm sandbox, and searches its frames (locals and globals up to the top), every
object `gc` tracks and what they refer to, every readable page of its own memory (the heap it
inherited from the zygote by fork, freed blocks included), /proc/self (environment, command line,
open descriptors) and every file under the places a process can write to. It also plants a secret
of its own, which the same search must find: a search that finds nothing at all proves nothing.
"""

from __future__ import annotations

import json
import secrets
import textwrap
from collections.abc import Iterator

import pytest

from app.grading.sandbox import Sandbox
from tests.app.grading.conftest import isolation_modes

PREFIX = "SECRET_OF_ALICE_"
SPY_LIMITS = {"cpu_s": 40, "wall_s": 60.0, "memory_mb": 1024}

SPY = textwrap.dedent(
    r'''
    import ctypes, gc, json, os, re, sys, time, warnings

    warnings.simplefilter("ignore")  # what it prints is its report, nothing else

    PATTERN = re.compile(b"SECRET" + b"_OF_ALICE_([0-9a-f]{32})")
    MINE = "SECRET_OF_ALICE_" "PLANTED"  # one constant once compiled; not one string in the source
    SKIP_MAPS = ("[vvar]", "[vsyscall]", "[vdso]", "[vvar_vclock]")


    def scan(blob, where, found):
        for match in PATTERN.finditer(blob):
            found.setdefault(match.group(1).decode(), set()).add(where)


    def as_bytes(value):
        if isinstance(value, str):
            return value.encode("utf-8", "replace")
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        return None


    def search_frames(found):
        frame = sys._getframe()
        while frame is not None:
            for scope in (frame.f_locals, frame.f_globals):
                for key, value in list(scope.items()):
                    for item in (key, value):
                        blob = as_bytes(item)
                        scan(blob if blob is not None else repr(item).encode("utf-8", "replace"), "frames", found)
            frame = frame.f_back


    def search_gc(found):
        gc.unfreeze()  # the zygote froze its warm heap: those objects are hidden from get_objects() until now
        objects = gc.get_objects()
        for obj in objects:
            for ref in gc.get_referents(obj):
                blob = as_bytes(ref)
                if blob is not None:
                    scan(blob, "gc", found)
        return len(objects)


    def search_memory(found):
        """Every readable private page of this process: what fork copied from the zygote."""
        total = 0
        with open("/proc/self/maps") as maps:
            regions = [line.split() for line in maps]
        for fields in regions:
            start, end = (int(x, 16) for x in fields[0].split("-"))
            perms, name = fields[1], fields[5] if len(fields) > 5 else ""
            if "r" not in perms or name in SKIP_MAPS:
                continue
            if name.startswith("/") and "w" not in perms:
                continue  # a read-only mapped file (a library): not the heap
            step = 8 << 20
            for at in range(start, end, step):
                size = min(step, end - at)
                scan(ctypes.string_at(at, size + min(64, end - at - size)), "memory", found)
                total += size
        return total


    def search_proc(found):
        for name in ("environ", "cmdline"):
            try:
                with open(f"/proc/self/{name}", "rb") as f:
                    scan(f.read(), f"/proc/self/{name}", found)
            except OSError:
                pass
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                scan(target.encode(), "fds", found)
                scan(os.pread(int(fd), 1 << 20, 0), "fds", found)
            except OSError:
                pass


    def search_files(found, budget_s=20.0):
        roots = ["/tmp", "/dev/shm", "/var/tmp", "/run", "/dev/mqueue", os.path.dirname(os.getcwd()), os.getcwd()]
        seen, count, end = set(), 0, time.monotonic() + budget_s
        for root in roots:
            for folder, dirs, files in os.walk(root):
                for name in files:
                    path = os.path.join(folder, name)
                    if path in seen or time.monotonic() > end:
                        continue
                    seen.add(path)
                    try:
                        with open(path, "rb") as f:
                            scan(f.read(4 << 20), "file " + path, found)
                        count += 1
                    except OSError:
                        pass
        return count


    def spy(x):
        with open("planted.txt", "w") as f:  # so the file search has something of its own to find
            f.write(MINE)
        found = {}
        search_frames(found)
        objects = search_gc(found)
        search_proc(found)
        files = search_files(found)
        memory = search_memory(found)
        report = {"found": {k: sorted(v) for k, v in found.items()}, "objects": objects, "files": files,
                  "memory_mb": memory >> 20}
        print(json.dumps(report))
        return 0.0
    '''
)


@pytest.fixture(scope="module", params=isolation_modes())
def sandbox(request: pytest.FixtureRequest, warm_sandbox: Sandbox) -> Iterator[Sandbox]:
    if request.param == warm_sandbox.isolation:  # the app's own warm sandbox: what learners share
        yield warm_sandbox
        return
    sandbox = Sandbox(request.param)
    sandbox.start()
    yield sandbox
    sandbox.close()


def test_a_spy_finds_nothing_of_the_previous_submission(sandbox: Sandbox) -> None:
    in_code, in_input, printed = (secrets.token_hex(16) for _ in range(3))
    victim = textwrap.dedent(
        f"""\
        SECRET = "{PREFIX}{in_code}"
        said = "{PREFIX}" + "{printed}"


        def victim(note):
            print(said)
            assert note.startswith("{PREFIX}")
            return float(len(note) + len(SECRET))
        """
    )
    result = sandbox.run(victim, "victim", [{"args": {"note": PREFIX + in_input}}])
    assert result.status == "ok" and result.results[0]["ok"], result
    assert printed in result.stdout  # the victim ran and said its secret

    spy = sandbox.run(SPY.replace("PLANTED", secrets.token_hex(16)), "spy", [{"args": {"x": 1.0}}], SPY_LIMITS)

    assert spy.status == "ok" and spy.results[0]["ok"], spy
    report = json.loads(spy.stdout.strip().splitlines()[-1])
    found = report["found"]
    leaked = {token: found[token] for token in (in_code, in_input, printed) if token in found}
    assert not leaked, f"the spy found the victim's secrets: {leaked}"
    # The search works: the spy's own planted secret turns up in its frames, gc, memory and a file.
    mine = [places for token, places in found.items() if token not in (in_code, in_input, printed)]
    assert mine and {"frames", "gc", "memory"} <= set(mine[0]), found
    assert any(place.startswith("file ") for place in mine[0]), found
    assert report["objects"] > 10_000 and report["memory_mb"] > 50
