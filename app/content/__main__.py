"""`python -m app.content validate [PATH...]`: check lesson and question-bank files.
`python -m app.content new lesson ID [--track T]` / `new bank TOPIC [--file NAME]`: write a skeleton that
validates.

Prints one line per problem as `FILE:LINE: field: message` and exits 1 if there is any,
0 otherwise. PATHs are files or folders (default: lessons/ and quizzes/). A file whose top
level has `questions:` is a question bank; any other YAML file is a lesson. Cross-references
(prerequisites, quiz ids) are checked against the repository's lessons and quizzes too, so a
single new file can be validated on its own. Every explain and spot-the-bug rubric of a valid bank
must grade its own model answer as a pass and a salad of its accept phrasings as a fail
(app/grading/rubric_check.py).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from app.content.bank_checks import CHECK_TORCH_DRILLS
from app.content.loader import (
    LESSONS_DIR,
    LESSONS_ENV,
    QUIZZES_DIR,
    QUIZZES_ENV,
    build_catalogue,
    load_catalogue,
    yaml_files,
)
from app.content.models import Track
from app.content.quiz_models import Topic
from app.content.skeleton import bank_skeleton, code_regions, lesson_skeleton, next_order
from app.content.yaml_source import YamlSyntaxError, load_file
from app.words import counted

_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _content_dirs() -> tuple[Path, Path]:
    """The lesson and quiz folders the app reads (RLDOJO_LESSONS_DIR / RLDOJO_QUIZZES_DIR override)."""
    return Path(os.environ.get(LESSONS_ENV) or LESSONS_DIR), Path(os.environ.get(QUIZZES_ENV) or QUIZZES_DIR)


def _is_quiz_bank(path: Path) -> bool:
    if _content_dirs()[1].resolve() in path.resolve().parents:
        return True
    try:
        data, _ = load_file(path, path.parent)
    except YamlSyntaxError:  # the lesson loader reports it, with its line
        return False
    return isinstance(data, dict) and "questions" in data


def validate(paths: list[Path]) -> tuple[list[str], int]:
    """Return the problem lines for the given paths and the number of files checked.

    Every drill's reference runs, torch drills included (pages skip those until torch is loaded)."""
    token = CHECK_TORCH_DRILLS.set(True)
    try:
        return _validate(paths)
    finally:
        CHECK_TORCH_DRILLS.reset(token)


def _validate(paths: list[Path]) -> tuple[list[str], int]:
    lines: list[str] = []
    for path in paths:
        if not path.exists():
            lines.append(f"{path}:0: (path): no such file or folder")
    targets = {p.resolve() for p in yaml_files(paths)}
    lessons_dir, quizzes_dir = _content_dirs()
    lessons = {p.resolve() for p in yaml_files([lessons_dir])}
    quizzes = {p.resolve() for p in yaml_files([quizzes_dir])}
    for path in targets:
        (quizzes if _is_quiz_bank(path) else lessons).add(path)
    catalogue = build_catalogue(sorted(lessons), sorted(quizzes))
    lines += [str(p) for p in catalogue.problems if p.file.resolve() in targets]
    broken = {p.file.resolve() for p in catalogue.problems}
    lines += _rubric_self_checks(sorted(t for t in targets if t in quizzes and t not in broken))
    return lines, len(targets)


def _rubric_self_checks(banks: list[Path]) -> list[str]:
    """Each rubric grades its model answer as a pass and a salad of its own phrasings as a fail."""
    from app.content.loader import Problem
    from app.content.quiz_models import QuizBank
    from app.content.yaml_source import load_yaml
    from app.grading import rubric_check

    lines = []
    for path in banks:
        data, source = load_yaml(path.read_text(encoding="utf-8"))
        for i, q in enumerate(QuizBank.model_validate(data).questions):
            for loc, message in rubric_check.problems(q):
                line = source.line_of(("questions", i, *loc))
                lines.append(str(Problem(path, line, f"questions[{i}].{'.'.join(loc)}", message)))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.content", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("validate", help="check lesson and question-bank YAML files")
    check.add_argument("paths", nargs="*", type=Path, help="files or folders (default: lessons quizzes)")
    new = sub.add_parser("new", help="write a commented skeleton that validates: new lesson ID, new bank TOPIC")
    new.add_argument("what", choices=["lesson", "bank"])
    new.add_argument("name", help="the lesson id (lowercase words joined by '-') or the bank's topic")
    new.add_argument("--track", default=Track.FOUNDATIONS.value, help="the lesson's track (default: Foundations)")
    new.add_argument("--file", help="a bank's file name without .yaml (default: the topic), for another bank")
    args = parser.parse_args(argv)
    if args.command == "new":
        return _new(args.what, args.name, args.track, args.file)

    paths = args.paths or list(_content_dirs())
    lines, count = validate(paths)
    for line in lines:
        print(line)
    if lines:
        print(f"{counted(len(lines), 'problem')} in {counted(count, 'file')}", file=sys.stderr)
        return 1
    print(f"{counted(count, 'file')} valid", file=sys.stderr)
    return 0


def _new(what: str, name: str, track_name: str, file_name: str | None = None) -> int:
    lessons_dir, quizzes_dir = _content_dirs()
    if file_name is not None and (what != "bank" or not _ID.fullmatch(file_name)):
        print("--file is a bank's file name: lowercase words joined by '-', e.g. --file dyna-q", file=sys.stderr)
        return 2
    if what == "lesson":
        if not _ID.fullmatch(name):
            print(f"'{name}' is not a lesson id: lowercase words joined by '-', e.g. dyna-q", file=sys.stderr)
            return 2
        try:
            track = Track(track_name)
        except ValueError:
            print(f"unknown track '{track_name}'; tracks: {', '.join(t.value for t in Track)}", file=sys.stderr)
            return 2
        catalogue = load_catalogue(lessons_dir, quizzes_dir)
        orders: dict[Track, list[int]] = {}
        for entry in catalogue.lessons.values():
            if entry.lesson is not None:
                orders.setdefault(entry.lesson.track, []).append(entry.lesson.order)
        if name in catalogue.lessons:
            print(f"a lesson with id '{name}' exists: {catalogue.lessons[name].path}", file=sys.stderr)
            return 2
        path = lessons_dir / f"{name}.yaml"
        text = lesson_skeleton(name, track, next_order(track, orders), code_regions())
    else:
        try:
            topic = Topic(name)
        except ValueError:
            print(f"unknown topic '{name}'; topics: {', '.join(t.value for t in Topic)}", file=sys.stderr)
            return 2
        stem = file_name or topic.value
        path = quizzes_dir / f"{stem}.yaml"
        text = bank_skeleton(topic, stem)
    if path.exists():
        another = f"new bank {name} --file NAME" if what == "bank" else "another id"
        print(f"{path} exists; edit it, or choose another name ({another})", file=sys.stderr)
        return 2
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    lines, _ = validate([path])
    for line in lines:
        print(line)
    print(
        f"wrote {path}" + (" (it validates)" if not lines else f" with {counted(len(lines), 'problem')}"),
        file=sys.stderr,
    )
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
