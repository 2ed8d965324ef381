"""Every declared demo has a renderer, and renders with its defaults without an exception."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.content.demos import DEMOS
from app.widgets.demos import RENDERERS

REQUIRED = {"live-run": {"algorithm": "tabular"}}  # demos whose params have no defaults


def test_every_demo_has_a_renderer_and_back() -> None:
    assert set(DEMOS) == set(RENDERERS)


def _render(name: str, params: dict) -> None:
    import sys
    from pathlib import Path

    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.widgets.demos import render_demo

    render_demo(name, params, key="t")


@pytest.mark.parametrize("name", sorted(DEMOS))
def test_demo_renders_with_defaults(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    at = AppTest.from_function(_render, args=(name, REQUIRED.get(name, {})), default_timeout=120).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
