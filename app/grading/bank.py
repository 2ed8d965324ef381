"""The question banks as the grader and the pages see them: every valid question, by id.

Problems are the content validator's job (`python -m app.content validate`); here a bank that
does not validate is skipped and a question that fails its checks is left out, so one broken file
never takes the other questions down. When two banks use one id, the older file's question is
served (the validator reports the newer one). The result
is cached on the files' modification times, like the lesson catalogue.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from app.content.bank_checks import check_bank, check_question
from app.content.loader import QUIZZES_DIR, QUIZZES_ENV, _fingerprint, content_order, yaml_files
from app.content.quiz_models import TOPIC_TITLES, AnyQuestion, QuizBank, Topic
from app.content.yaml_source import YamlSyntaxError, load_file_cached


@dataclass(frozen=True)
class Questions:
    by_id: dict[str, AnyQuestion]
    banks: dict[str, QuizBank]  # file name -> bank
    skipped: list[str]  # files that did not validate

    def get(self, question_id: str) -> AnyQuestion | None:
        return self.by_id.get(question_id)

    def topic_of(self) -> dict[str, str]:
        """Question id -> its topic, for the questions that have one."""
        return {q.id: q.topic.value for q in self.by_id.values() if q.topic}

    def lessons_of_topic(self) -> dict[str, list[str]]:
        """Topic -> the lessons its questions name, each once, in the order the questions name them."""
        out: dict[str, list[str]] = {}
        for q in self.by_id.values():
            if q.topic:
                bucket = out.setdefault(q.topic.value, [])
                bucket += [lesson for lesson in q.lessons if lesson not in bucket]
        return out

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


def load_questions(directory: Path | None = None, *, check_code: bool = True) -> Questions:
    """Every servable question. `check_code=False` leaves out the checks that run the reference
    code (predict and implement questions; they import numpy or torch): `question()` runs them
    for the one question a lesson shows."""
    directory = directory or quizzes_dir()
    files = yaml_files([directory])
    key = _fingerprint(files)
    with _lock:
        cached = _cache.get(f"{directory}|{check_code}")
        if cached and cached[0] == key:
            return cached[1]
    by_id: dict[str, AnyQuestion] = {}
    banks: dict[str, QuizBank] = {}
    skipped: list[str] = []
    # Oldest bank first, as the validator orders them: a reused id never takes over a question.
    for path in content_order(files):
        try:
            data, _ = load_file_cached(path, directory)
            bank = QuizBank.model_validate(data)
            problems = check_bank(bank, None, run_code=check_code)
            broken = {bank.questions[loc[1]].id for loc, _ in problems if _is_question(loc)}
        except (YamlSyntaxError, ValidationError):
            skipped.append(path.name)
            continue
        except Exception:  # a check that breaks on odd content skips this bank, no other
            skipped.append(path.name)
            continue
        banks[path.name] = bank
        for question in bank.questions:
            if question.id not in broken:
                by_id.setdefault(question.id, question)
    questions = Questions(by_id, banks, skipped)
    with _lock:
        _cache[f"{directory}|{check_code}"] = (key, questions)
    return questions


def question(question_id: str, directory: Path | None = None) -> AnyQuestion | None:
    """The question `load_questions().get(question_id)` serves, with only its own checks run.

    A lesson's quiz block shows two or three questions: it need not run every bank's reference
    code (seconds, and torch) to show them. None when no valid bank has it or it fails a check.
    """
    found = load_questions(directory, check_code=False).get(question_id)
    if found is None:
        return None
    try:
        return None if list(check_question(found, None)) else found
    except Exception:  # a check that breaks on odd content leaves this question out, no other
        return None


def _is_question(loc: tuple[object, ...]) -> bool:
    # Problems of a question that would break it on a page (not a dangling lesson link, unchecked here).
    return len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int)


def topic_title(topic: Topic | str | None) -> str:
    try:
        return TOPIC_TITLES[Topic(topic)] if topic else ""
    except ValueError:
        return str(topic)
