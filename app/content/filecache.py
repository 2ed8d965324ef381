"""Work done on one file (parsed, validated, checked), remembered while the file is unchanged.

A page run asks for the catalogue every time; re-reading and re-checking every lesson, bank and
algorithm source on each run (or on the first run after a server start, for the files another
page already read) is what made pages slow. Here a result is kept per process, keyed by the
file's path, modification time and size (and whatever else it depends on, `depends`), so:

- an unchanged file is never read twice;
- an edited file is read again on the next page run, and its new error (or its fix) shows at once;
- one broken file costs only itself: every other file's result is reused as it was.

No streamlit here (tests/test_layering.py): the loader, the grader's bank and the code-reference
resolver share this cache whether they run in the app, the CLI or a test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

MAX_ENTRIES = 4000  # far above the repository's files; an instructor's preview folders fit too

_results: dict[tuple[str, str], tuple[Hashable, object]] = {}
_lock = threading.Lock()
stats = {"hits": 0, "misses": 0}  # for tests and the benchmark: how much work was reused


def stamp(path: Path) -> tuple[int, int] | None:
    """(modification time in ns, size) of `path`, or None when it cannot be read."""
    try:
        result = path.stat()
    except OSError:
        return None
    return (result.st_mtime_ns, result.st_size)


def cached(kind: str, path: Path, compute: Callable[[], T], depends: Hashable = ()) -> T:
    """`compute()` for `path`, reused while the file's stamp and `depends` are unchanged.

    `kind` names the work (one file can be parsed by one caller and checked by another). A file
    that cannot be stat'ed is computed every time (its error is the caller's to report). The stamp
    is taken before `compute` reads the file, so an edit made during the read is seen next time.
    """
    current = stamp(path)
    if current is None:
        return compute()
    key = (kind, str(path))
    version = (current, depends)
    with _lock:
        found = _results.get(key)
        if found is not None and found[0] == version:
            stats["hits"] += 1
            return found[1]  # type: ignore[return-value]
    value = compute()
    with _lock:
        stats["misses"] += 1
        if len(_results) >= MAX_ENTRIES:
            _results.clear()
        _results[key] = (version, value)
    return value


def clear() -> None:
    with _lock:
        _results.clear()
