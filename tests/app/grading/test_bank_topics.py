"""The questions' topics and the lessons they point to: one definition for the Progress and Class pages."""

from __future__ import annotations

from app.grading.bank import Questions, load_questions


def test_lessons_of_topic_lists_each_lesson_once_in_question_order() -> None:
    real = [q for q in load_questions().by_id.values() if q.topic][:3]
    a, b, c = (q.model_copy(update={"topic": real[0].topic}) for q in real)
    a = a.model_copy(update={"id": "a", "lessons": ["l2", "l1"]})
    b = b.model_copy(update={"id": "b", "lessons": ["l1", "l3"]})
    c = c.model_copy(update={"id": "c", "topic": None, "lessons": ["l9"]})
    questions = Questions({q.id: q for q in (a, b, c)}, {}, [])
    topic = real[0].topic.value
    assert questions.lessons_of_topic() == {topic: ["l2", "l1", "l3"]}
    assert questions.topic_of() == {"a": topic, "b": topic}  # a question without a topic has none


def test_every_topic_of_the_repository_names_its_questions_lessons() -> None:
    questions = load_questions()
    lessons = questions.lessons_of_topic()
    for q in questions.by_id.values():
        if q.topic:
            assert questions.topic_of()[q.id] == q.topic.value
            assert set(q.lessons) <= set(lessons[q.topic.value])
    assert all(len(ids) == len(set(ids)) for ids in lessons.values())
