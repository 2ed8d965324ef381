"""Which section of a lesson holds a block: lessons are shown one section at a time (&section=N)."""

from __future__ import annotations

from app.content.loader import load_catalogue


def section_with(lesson_id: str, *, demo: str | None = None, question: str | None = None) -> str:
    """The 1-based number (as the address writes it) of the first section of `lesson_id` with the
    demo `demo` or a quiz holding `question`."""
    lesson = load_catalogue().lessons[lesson_id].lesson
    for number, section in enumerate(lesson.sections, start=1):
        for block in section.blocks:
            quiz = getattr(block, "quiz", None) or []
            if (demo and getattr(block, "demo", None) == demo) or (question and question in quiz):
                return str(number)
    raise LookupError(f"no section of {lesson_id} has demo={demo!r} question={question!r}")
