"""Issue 12 ("Fast"): a page's catalogue reuses every unchanged file's work, reads no bank and
imports no torch, while an edited file still shows its new error (or its fix) on the next run
and the checks it leaves out still run for the lesson a page shows."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from app.content import filecache
from app.content.loader import load_catalogue
from app.grading.bank import question
from tests.app.content.test_hostile_content import GOOD_BANK, GOOD_LESSON

ROOT = Path(__file__).resolve().parents[3]


def folders(tmp_path: Path) -> tuple[Path, Path]:
    lessons, quizzes = tmp_path / "lessons", tmp_path / "quizzes"
    lessons.mkdir()
    quizzes.mkdir()
    (lessons / "good.yaml").write_text(GOOD_LESSON)
    (lessons / "other.yaml").write_text(GOOD_LESSON.replace("id: good", "id: other").replace("A good", "Another"))
    (quizzes / "good.yaml").write_text(GOOD_BANK)
    return lessons, quizzes


def touch_later(path: Path) -> None:
    """An edit a second later (mtime granularity must not hide it)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def with_block(block: str) -> str:
    return GOOD_LESSON + textwrap.indent(textwrap.dedent(block), "      ")


def test_a_broken_edit_shows_its_error_and_the_other_lessons_are_reused(tmp_path: Path) -> None:
    lessons, quizzes = folders(tmp_path)
    first = load_catalogue(lessons, quizzes)
    assert first.lessons["good"].ok and first.lessons["other"].ok

    (lessons / "good.yaml").write_text(GOOD_LESSON.replace("minutes: 5", "minutes: -1"))
    touch_later(lessons / "good.yaml")
    before = dict(filecache.stats)
    second = load_catalogue(lessons, quizzes)
    assert not second.lessons["good"].ok
    assert [p.message for p in second.lessons["good"].problems] == [
        "Input should be greater than or equal to 1 (got -1)"
    ]
    # The unchanged lesson is the same parsed object: its file was not read or validated again.
    assert second.lessons["other"].ok and second.lessons["other"].lesson is first.lessons["other"].lesson
    assert filecache.stats["misses"] - before["misses"] == 2  # the edited file: its YAML and its lesson

    (lessons / "good.yaml").write_text(GOOD_LESSON.replace("A good lesson", "A fixed lesson"))
    touch_later(lessons / "good.yaml")
    third = load_catalogue(lessons, quizzes)
    assert third.lessons["good"].ok and third.lessons["good"].title == "A fixed lesson"


def test_a_duplicate_id_marks_a_copy_and_never_the_cached_entry(tmp_path: Path) -> None:
    lessons, quizzes = folders(tmp_path)
    load_catalogue(lessons, quizzes)
    (lessons / "zz-copy.yaml").write_text(GOOD_LESSON)  # reuses the id 'good': the newer file is refused
    touch_later(lessons / "zz-copy.yaml")
    catalogue = load_catalogue(lessons, quizzes)
    assert catalogue.lessons["good"].ok
    (lessons / "zz-copy.yaml").unlink()
    again = load_catalogue(lessons, quizzes)
    assert again.lessons["good"].ok and again.lessons["good"].problems == []


def test_the_quick_catalogue_leaves_heavy_checks_to_the_lesson_page(tmp_path: Path) -> None:
    lessons, quizzes = folders(tmp_path)
    (lessons / "good.yaml").write_text(
        with_block(
            "- demo: live-run\n  params: {algorithm: ppo, preset: {lr: fast}}\n"
            "- code: algorithms.returns:no_such_function\n"
        ).replace("[good-question]", "[no-such-question]")
    )
    (lessons / "other.yaml").write_text(with_block("- diagram: 'digraph { a -> }'\n").replace("id: good", "id: other"))
    quick = load_catalogue(lessons, quizzes)
    assert quick.quick and quick.quiz_banks == []  # no bank read for a page's lesson list
    assert quick.lessons["good"].ok and quick.lessons["other"].ok

    good = quick.fully_checked("good")
    assert good is not None and not good.ok
    messages = [p.message for p in good.problems]
    assert any("preset lr: 'fast' is not a float" in m for m in messages), messages
    assert "no question has id 'no-such-question' in quizzes/" in messages
    assert any("'no_such_function' is not defined in algorithms.returns" in m for m in messages), messages
    other = quick.fully_checked("other")
    assert other is not None and not other.ok and "the DOT does not parse" in other.problems[0].message

    full = load_catalogue(lessons, quizzes, full=True)  # the validator's view: the same problems
    assert {str(p) for p in full.problems} == {str(p) for e in (good, other) for p in e.problems}


def test_a_quick_catalogue_still_refuses_an_unknown_algorithm(tmp_path: Path) -> None:
    lessons, quizzes = folders(tmp_path)
    (lessons / "good.yaml").write_text(with_block("- demo: live-run\n  params: {algorithm: nope}\n"))
    entry = load_catalogue(lessons, quizzes).lessons["good"]
    assert not entry.ok and "unknown algorithm 'nope'" in entry.problems[0].message


def test_a_quiz_block_question_is_checked_alone(tmp_path: Path) -> None:
    _, quizzes = folders(tmp_path)
    assert question("good-question", quizzes).answers == ["this one"]
    assert question("missing", quizzes) is None
    broken = GOOD_BANK.replace("distractors: [that one]", "distractors: [this one]")  # a distractor that is right
    (quizzes / "good.yaml").write_text(broken)
    touch_later(quizzes / "good.yaml")
    assert question("good-question", quizzes) is None


HOME_PROBE = """
import sys
from app.content.loader import load_catalogue
catalogue = load_catalogue()
assert catalogue.lessons and all(entry.ok for entry in catalogue.lessons.values())
from app.content import filecache
parsed = [path for kind, path in filecache._results if kind == "python-ast"]
assert not parsed, f"the page catalogue parsed algorithm sources: {parsed}"
print("HEAVY:" + ",".join(m for m in ("torch", "gymnasium", "transformers", "numpy", "pydot") if m in sys.modules))
"""


def test_the_page_catalogue_imports_no_heavy_module() -> None:
    result = subprocess.run([sys.executable, "-c", HOME_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "HEAVY:"


def lesson_page(tmp_path: Path, monkeypatch, lesson_id: str):
    """The lesson page of `lesson_id`, over the lessons and banks under `tmp_path` (see `folders`)."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RLDOJO_LESSONS_DIR", str(tmp_path / "lessons"))
    monkeypatch.setenv("RLDOJO_QUIZZES_DIR", str(tmp_path / "quizzes"))
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path / "data"))
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.switch_page("views/lesson.py")
    at.query_params["lesson"] = lesson_id
    return at.run()


def test_the_lesson_page_shows_what_the_quick_checks_left_out(tmp_path: Path, monkeypatch) -> None:
    lessons, _ = folders(tmp_path)
    (lessons / "good.yaml").write_text(with_block("- demo: live-run\n  params: {algorithm: ppo, preset: {lr: fast}}\n"))
    at = lesson_page(tmp_path, monkeypatch, "good")
    assert not at.exception
    assert at.error and "This lesson cannot be shown" in at.error[0].value
    assert any("preset lr: 'fast' is not a float" in m.value for m in at.markdown)
    at.query_params["lesson"] = "other"  # the other lesson is drawn as usual
    at.run()
    assert not at.exception and not at.error and at.title[0].value == "Another lesson"


def test_a_lesson_of_one_section_is_shown_whole_without_a_contents_menu(tmp_path: Path, monkeypatch) -> None:
    folders(tmp_path)
    at = lesson_page(tmp_path, monkeypatch, "other")
    assert not at.exception and not at.error and at.title[0].value == "Another lesson"
    assert not any(c.value.startswith("Section ") for c in at.caption)  # no "Section 1 of 1"
    assert not at.get("popover")
    assert "Mark lesson done" in [b.label for b in at.button]  # its one section is its end
