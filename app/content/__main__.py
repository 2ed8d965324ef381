"""`python -m app.content validate [PATH...]`: check lesson and question-bank files.

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
import sys
from pathlib import Path

import yaml

from app.content.loader import LESSONS_DIR, QUIZZES_DIR, build_catalogue, yaml_files


def _is_quiz_bank(path: Path) -> bool:
    if QUIZZES_DIR in path.resolve().parents:
        return True
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return False
    return isinstance(data, dict) and "questions" in data


def validate(paths: list[Path]) -> tuple[list[str], int]:
    """Return the problem lines for the given paths and the number of files checked."""
    lines: list[str] = []
    for path in paths:
        if not path.exists():
            lines.append(f"{path}:0: (path): no such file or folder")
    targets = {p.resolve() for p in yaml_files(paths)}
    lessons = {p.resolve() for p in yaml_files([LESSONS_DIR])}
    quizzes = {p.resolve() for p in yaml_files([QUIZZES_DIR])}
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
    args = parser.parse_args(argv)

    paths = args.paths or [LESSONS_DIR, QUIZZES_DIR]
    lines, count = validate(paths)
    for line in lines:
        print(line)
    if lines:
        print(f"{len(lines)} problem(s) in {count} file(s)", file=sys.stderr)
        return 1
    print(f"{count} file(s) valid", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
