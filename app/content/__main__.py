"""`python -m app.content validate [PATH...]`: check lesson and question-bank files.

Prints one line per problem as `FILE:LINE: field: message` and exits 1 if there is any,
0 otherwise. PATHs are files or folders (default: lessons/ and quizzes/). A file whose top
level has `questions:` is a question bank; any other YAML file is a lesson. Cross-references
(prerequisites, quiz ids) are checked against the repository's lessons and quizzes too, so a
single new file can be validated on its own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.content.loader import LESSONS_DIR, QUIZZES_DIR, build_catalogue, yaml_files
from app.content.yaml_source import YamlSyntaxError, load_file


def _is_quiz_bank(path: Path) -> bool:
    if QUIZZES_DIR in path.resolve().parents:
        return True
    try:
        data, _ = load_file(path, path.parent)
    except YamlSyntaxError:  # the lesson loader reports it, with its line
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
    return lines, len(targets)


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
