"""Questions and lessons point at each other: every question belongs to a lesson that embeds it, every
embedded question names its lesson, and a lesson's questions come after everything it teaches."""

from __future__ import annotations

import pytest

from app.content.loader import load_catalogue
from app.content.models import InterviewBlock, Lesson, QuizBlock
from app.grading.bank import Questions, load_questions


@pytest.fixture(scope="module")
def questions() -> Questions:
    return load_questions()


@pytest.fixture(scope="module")
def lessons() -> dict[str, Lesson]:
    catalogue = load_catalogue(full=True)
    assert all(entry.ok for entry in catalogue.lessons.values())
    return {lesson_id: entry.lesson for lesson_id, entry in catalogue.lessons.items() if entry.lesson}


def embedded(lesson: Lesson) -> set[str]:
    return {
        qid
        for section in lesson.sections
        for block in section.blocks
        if isinstance(block, QuizBlock)
        for qid in block.quiz
    }


def test_every_question_belongs_to_a_lesson(questions: Questions) -> None:
    orphans = sorted(q.id for q in questions.by_id.values() if not q.lessons)
    assert orphans == []


def test_a_question_is_embedded_in_every_lesson_it_names(questions: Questions, lessons: dict[str, Lesson]) -> None:
    missing = sorted(
        (q.id, name) for q in questions.by_id.values() for name in q.lessons if q.id not in embedded(lessons[name])
    )
    assert missing == []


def test_an_embedded_question_names_the_lesson(questions: Questions, lessons: dict[str, Lesson]) -> None:
    wrong = sorted(
        (lesson_id, qid)
        for lesson_id, lesson in lessons.items()
        for qid in embedded(lesson)
        if lesson_id not in questions.by_id[qid].lessons
    )
    assert wrong == []


def test_every_lesson_ends_with_its_questions(lessons: dict[str, Lesson]) -> None:
    """After the first section holding a quiz, only quizzes and interview questions follow."""
    late_teaching = []
    for lesson_id, lesson in lessons.items():
        first = next(
            (i for i, s in enumerate(lesson.sections) if any(isinstance(b, QuizBlock) for b in s.blocks)), None
        )
        if first is None:
            late_teaching.append((lesson_id, "no questions"))
            continue
        for section in lesson.sections[first:]:
            if not all(isinstance(b, QuizBlock | InterviewBlock) for b in section.blocks):
                late_teaching.append((lesson_id, section.title))
    assert late_teaching == []
