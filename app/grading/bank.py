"""The question banks as the grader and the pages see them: every valid question, by id.

Problems are the content validator's job (`python -m app.content validate`); here a bank that
does not validate is skipped, so one broken file never takes the other questions down. The result
is cached on the files' modification times, like the lesson catalogue.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from app.content.loader import QUIZZES_DIR, QUIZZES_ENV, yaml_files
from app.content.quiz_models import TOPIC_TITLES, AnyQuestion, QuizBank, Topic
from app.content.yaml_source import YamlSyntaxError, load_yaml


@dataclass(frozen=True)
class Questions:
    by_id: dict[str, AnyQuestion]
    banks: dict[str, QuizBank]  # file name -> bank
    skipped: list[str]  # files that did not validate

    def get(self, question_id: str) -> AnyQuestion | None:
        return self.by_id.get(question_id)

    def filter(
        self, topics: list[str] | None = None, kinds: list[str] | None = None, difficulties: list[str] | None = None
    ) -> list[AnyQuestion]:
        return [
            q
            for q in self.by_id.values()
            if (not topics or (q.topic and q.topic.value in topics))
            and (not kinds or q.kind in kinds)
            and (not difficulties or q.difficulty in difficulties)
        ]


_cache: dict[str, tuple[object, Questions]] = {}
_lock = threading.Lock()


def quizzes_dir() -> Path:
    return Path(os.environ.get(QUIZZES_ENV) or QUIZZES_DIR)


def load_questions(directory: Path | None = None) -> Questions:
    directory = directory or quizzes_dir()
    files = yaml_files([directory])
    key = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    with _lock:
        cached = _cache.get(str(directory))
        if cached and cached[0] == key:
            return cached[1]
    by_id: dict[str, AnyQuestion] = {}
    banks: dict[str, QuizBank] = {}
    skipped: list[str] = []
    for path in files:
        try:
            data, _ = load_yaml(path.read_text(encoding="utf-8"))
            bank = QuizBank.model_validate(data)
        except (YamlSyntaxError, UnicodeDecodeError, ValidationError, OSError):
            skipped.append(path.name)
            continue
        banks[path.name] = bank
        for question in bank.questions:
            by_id.setdefault(question.id, question)
    questions = Questions(by_id, banks, skipped)
    with _lock:
        _cache[str(directory)] = (key, questions)
    return questions


def topic_title(topic: Topic | str | None) -> str:
    try:
        return TOPIC_TITLES[Topic(topic)] if topic else ""
    except ValueError:
        return str(topic)
