"""Streamlit's AppTest renders every page and every lesson without an exception."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.content.loader import LESSONS_DIR, load_catalogue

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
LESSON_IDS = list(load_catalogue().lessons)


def open_lesson(lesson_id: str | None, section: str | None = "all") -> AppTest:
    """The lesson page at /lesson?lesson=ID&section=SECTION (all sections unless told; None: no section)."""
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page("views/lesson.py")
    if lesson_id is not None:
        at.query_params["lesson"] = lesson_id
    if section is not None:
        at.query_params["section"] = section
    return at.run()


def page_links(at: AppTest) -> dict[str, dict[str, str]]:
    """Every page link's label -> the query it opens."""
    return {
        link.proto.label: dict(p.split("=", 1) for p in link.proto.query_string.split("&") if p)
        for link in at.get("page_link")
    }


def all_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [w.value for w in at.warning]
    parts += [c.value for c in at.caption] + [t.value for t in at.title] + [h.value for h in at.subheader]
    return "\n".join(str(p) for p in parts)


def test_home_lists_lessons_by_track() -> None:
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "RL Dojo"
    assert "Foundations" in [s.value for s in at.subheader]
    assert "What an agent actually maximises" in all_text(at)


@pytest.mark.parametrize("lesson_id", LESSON_IDS)
def test_every_lesson_renders(lesson_id: str) -> None:
    at = open_lesson(lesson_id)
    assert not at.exception, at.exception
    assert at.title[0].value == load_catalogue().lessons[lesson_id].lesson.title
    assert not at.error, [e.value for e in at.error]


def test_returns_demo_reacts_to_gamma() -> None:
    at = open_lesson("returns-and-discounting")
    before = [m.value for m in at.metric]
    assert before[0] == "4.684"  # 0.9^2 * 1 + 0.9^9 * 10
    at.slider(key="returns-and-discounting-3-1-gamma").set_value(0.0).run()
    assert at.metric[0].value == "0.000"  # only r_1 = 0 counts
    at.text_input(key="returns-and-discounting-3-1-rewards").set_value("1, oops").run()
    assert "'oops' is not a number" in all_text(at)
    assert not at.exception


def test_no_lesson_parameter_opens_the_first_lesson() -> None:
    at = open_lesson(None, section=None)
    assert not at.exception
    assert at.query_params["lesson"] == LESSON_IDS[0]


def test_a_lesson_opens_on_its_first_section_alone_with_a_link_to_the_next() -> None:
    """A whole lesson drew 50-220 elements on its first visit (up to 3.3x a bare page's render,
    docs/benchmarks.md); a lesson opens on its first section, and the next is one link away."""
    lesson = load_catalogue().lessons["ppo"].lesson
    at = open_lesson("ppo", section=None)
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader] == [lesson.sections[0].title]
    assert "section" not in at.query_params  # the first section's address is the lesson's own
    assert f"Section 1 of {len(lesson.sections)}" in all_text(at)
    links = page_links(at)
    assert links[f"Next section: {lesson.sections[1].title}"] == {"lesson": "ppo", "section": "2"}
    assert not any(label.startswith("Previous section") for label in links)
    assert not [b for b in at.button if b.label == "Mark lesson done"]  # that is at the lesson's end


@pytest.mark.parametrize("lesson_id", LESSON_IDS)
def test_every_section_of_every_lesson_renders_alone_with_its_neighbours_linked(lesson_id: str) -> None:
    lesson = load_catalogue().lessons[lesson_id].lesson
    count = len(lesson.sections)
    for number in range(1, count + 1):
        at = open_lesson(lesson_id, section=str(number))
        assert not at.exception, (number, at.exception)
        assert not at.error, (number, [e.value for e in at.error])
        assert at.query_params.get("section", "1") == str(number)
        title = lesson.sections[number - 1].title
        if title:
            assert [s.value for s in at.subheader] == [title]
        links = page_links(at)
        previous = [q for label, q in links.items() if label.startswith("Previous section:")]
        following = [q for label, q in links.items() if label.startswith("Next section:")]
        assert previous == ([address(lesson_id, number - 1)] if number > 1 else []), number
        assert following == ([address(lesson_id, number + 1)] if number < count else []), number
        lesson_end = [b for b in at.button if b.label == "Mark lesson done"]
        assert bool(lesson_end) == (number == count), number


def address(lesson_id: str, number: int) -> dict[str, str]:
    """The query of section `number` (1-based): the first section's is the lesson's own."""
    return {"lesson": lesson_id} if number == 1 else {"lesson": lesson_id, "section": str(number)}


@pytest.mark.parametrize(("asked", "note"), [("12", "no section `12`"), ("0", "no section `0`"), ("two", "`two`")])
def test_a_section_that_does_not_exist_says_so_and_shows_the_first(asked: str, note: str) -> None:
    at = open_lesson("ppo", section=asked)
    assert not at.exception, at.exception
    count = len(load_catalogue().lessons["ppo"].lesson.sections)
    assert any(note in i.value and f"This lesson has {count} sections" in i.value for i in at.info), at.info
    assert [s.value for s in at.subheader] == [load_catalogue().lessons["ppo"].lesson.sections[0].title]
    assert "section" not in at.query_params  # the address now says what is on screen


def test_the_contents_menu_lists_every_section_once_opened() -> None:
    lesson = load_catalogue().lessons["ppo"].lesson
    at = open_lesson("ppo", section="3")
    assert not any(label.startswith("1. ") for label in page_links(at))  # closed: not drawn
    at.session_state["contents-ppo-3"] = True
    at.run()
    links = page_links(at)
    for i, section in enumerate(lesson.sections):
        if i == 2:  # the section on screen is named, not linked
            assert f"{i + 1}. {section.title}" not in links
            assert f"**{i + 1}. {section.title}** (this section)" in all_text(at)
        else:
            assert links[f"{i + 1}. {section.title}"] == address("ppo", i + 1)
    assert links["All sections on one page"] == {"lesson": "ppo", "section": "all"}


def test_a_live_run_stays_in_the_address_from_section_to_section() -> None:
    """A run started in a lesson's block is kept in the address (run, run_block): reading on and
    coming back to its section shows the run again, not a fresh start form."""
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.switch_page("views/lesson.py")
    at.query_params.update({"lesson": "td-learning", "section": "5", "run": "r1", "run_block": "td-learning-4-1"})
    at.run()
    assert not at.exception, at.exception
    links = page_links(at)
    carried = {"run": "r1", "run_block": "td-learning-4-1"}
    for label, query in links.items():
        if label.startswith(("Previous section:", "Next section:")):
            assert {k: query.get(k) for k in carried} == carried, (label, query)
    assert any(label.startswith("Next section:") for label in links)


def test_unknown_lesson_id_says_so() -> None:
    at = open_lesson("no-such-lesson")
    assert not at.exception
    assert "There is no lesson with id `no-such-lesson`" in all_text(at)
    at = open_lesson("x`[click](https://example.com)`")  # quoted as code, never a link
    assert "There is no lesson with id `x[click](https://example.com)`." in all_text(at)


def test_broken_lesson_shows_its_error_in_place_and_others_still_work(tmp_path: Path, monkeypatch) -> None:
    for path in LESSONS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "broken.yaml").write_text("id: broken\ntitle: Broken lesson\nminutes: lots\n")
    monkeypatch.setenv("RLDOJO_LESSONS_DIR", str(tmp_path))

    at = open_lesson("broken")
    assert not at.exception
    text = all_text(at)
    assert "Line 3" in text and "`minutes`" in text and "valid integer" in text
    assert "Every other lesson still works" in text

    home = AppTest.from_file(MAIN, default_timeout=60).run()
    assert not home.exception
    assert "Needs fixing" in [s.value for s in home.subheader]

    assert not open_lesson("returns-and-discounting").exception


def test_the_reward_model_step_caption_says_what_its_code_does() -> None:
    lesson = load_catalogue().lessons["reward-models"].lesson
    (block,) = [
        b
        for s in lesson.sections
        for b in s.blocks
        if getattr(b, "code", None) == "algorithms.lm.reward_model:train_reward_model#reward-model-step"
    ]
    source = (ROOT / "algorithms" / "lm" / "reward_model.py").read_text()
    region = source.split("# lesson:start reward-model-step")[1].split("# lesson:end reward-model-step")[0]
    assert region.count("reward_scores(") == 1  # chosen and rejected go through the model together
    assert block.caption.startswith("One forward pass")


def test_a_listing_s_whole_function_is_drawn_only_once_opened() -> None:
    """Hidden, PPO's whole functions were 240 KB of HTML that every first visit parsed (1.8 s of its
    first render): each is sent when the learner opens its panel, and is then shown."""
    from app.content.coderef import resolve
    from app.widgets.code import snippet_html

    whole = snippet_html(resolve("algorithms.ppo:train"))
    at = open_lesson("ppo")
    panels = [e for e in at.expander if e.label == "The whole of `train`"]
    assert panels, "the PPO lesson shows a region of train with its whole-function panel"
    assert whole not in [h.proto.body for h in at.get("html")], "sent although its panel is closed"
    keys = sorted(k for k in at.session_state._state.filtered_state if str(k).endswith("-whole"))
    assert "ppo-4-5-whole" in keys, keys  # the minibatch update's listing (section 4, block 5)
    at.session_state["ppo-4-5-whole"] = True
    at.run()
    assert not at.exception, at.exception
    assert [h.proto.body for h in at.get("html")].count(whole) == 1, "opened, its panel shows the function"
