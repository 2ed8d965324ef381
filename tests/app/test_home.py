"""Home: start here for a new learner, continue where they left off, done marks, and a lesson search."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.content.loader import load_catalogue
from app.learners import store
from app.learners.identity import LEGACY_ANONYMOUS as DEFAULT_LEARNER

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
IDS = [i for i, e in load_catalogue().lessons.items() if e.ok]


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def home() -> AppTest:
    return AppTest.from_file(MAIN, default_timeout=60).run()


def links(at: AppTest) -> list[str]:
    return [p.proto.label for p in at.get("page_link")]


def test_a_new_learner_is_told_where_to_start() -> None:
    at = home()
    assert not at.exception
    assert any("New here?" in c.value for c in at.caption)
    first = load_catalogue().lessons[IDS[0]].title
    assert links(at)[0] == f"**{first}**"


def test_a_returning_learner_continues_after_the_last_lesson_done_and_sees_done_marks() -> None:
    store.record_event(DEFAULT_LEARNER, store.LESSON_DONE, IDS[0])
    store.record_event(DEFAULT_LEARNER, store.LESSON_DONE, IDS[3])
    at = home()
    assert not at.exception
    assert any("Continue where you left off · 2 of" in c.value for c in at.caption)
    assert links(at)[0] == f"**{load_catalogue().lessons[IDS[4]].title}**"
    done_icons = [p.proto.icon for p in at.get("page_link") if p.proto.icon == ":material/task_alt:"]
    assert len(done_icons) == 2
    assert sum(":green[done]" in c.value for c in at.caption) == 2


def test_the_search_box_filters_lessons_by_title_summary_and_tag() -> None:
    at = home()
    at.text_input(key="home-search").set_value("bradley").run()
    assert not at.exception
    cards = [label for label in links(at)[1:]]
    assert cards and all("**" in c for c in cards)
    assert "**Reward models from comparisons**" in cards and "**Returns and discounting**" not in cards
    at.text_input(key="home-search").set_value("zzz-nothing").run()
    assert "No lesson mentions" in at.info[0].value
