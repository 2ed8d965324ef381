"""algorithms/ imports nothing of ours; only app/views (the pages) and app/widgets may import streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", python_files("algorithms"), ids=lambda p: str(p.relative_to(ROOT)))
def test_algorithms_import_nothing_of_ours(path: Path) -> None:
    assert not imported_modules(path) & {"app", "streamlit", "tests", "bench"}


STREAMLIT_FREE = [p for p in python_files("app") if p.relative_to(ROOT).parts[1] not in ("views", "widgets", "main.py")]


@pytest.mark.parametrize("path", STREAMLIT_FREE, ids=lambda p: str(p.relative_to(ROOT)))
def test_app_core_does_not_import_streamlit(path: Path) -> None:
    assert "streamlit" not in imported_modules(path)


def test_the_check_sees_the_core_packages() -> None:
    names = {p.relative_to(ROOT).parts[1] for p in STREAMLIT_FREE}
    assert "content" in names


def test_no_pages_folder_next_to_the_main_script() -> None:
    # Streamlit treats a `pages/` folder beside the main script as a legacy multipage app until
    # st.navigation runs once, so a deep link (/lesson?lesson=ID) as the first request after a
    # server start would run the page without main.py. Our pages live in app/views/.
    assert not (ROOT / "app" / "pages").exists()
