"""Shared fixtures: one warm sandbox per isolation mode for the whole module, the question banks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.grading.bank import Questions, load_questions
from app.grading.sandbox import Sandbox, bwrap_path, shared_sandbox


def isolation_modes() -> list:
    """Every mode this machine offers. With bubblewrap present the app uses it, so the plain mode's
    battery (the fallback) runs with the slow tests (`make test-slow`)."""
    if not bwrap_path():
        return ["rlimits"]
    return ["bwrap", pytest.param("rlimits", marks=pytest.mark.slow)]


@pytest.fixture(scope="session")
def questions() -> Questions:
    return load_questions()


@pytest.fixture(scope="session")
def warm_sandbox() -> Iterator[Sandbox]:
    """The app's shared sandbox (bubblewrap where installed), started once for the whole session:
    the pages under AppTest and the CLI called in-process use this same one."""
    sandbox = shared_sandbox()
    sandbox.start()
    yield sandbox
    sandbox.close()
