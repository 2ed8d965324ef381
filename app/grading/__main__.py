"""`python -m app.grading`: grade a solution file, or regenerate the syllabus coverage.

    python -m app.grading check --question discounted-returns --file solution.py [--seed 0] [--json]
    python -m app.grading coverage [--check]
    python -m app.grading list [--kind implement]

`check --json` prints one JSON object: passed, cases_passed, cases_total, message (and the first
failing case, when there is one). The exit status is 0 when the solution passes, 1 when it does
not, 2 for a usage error (no such question, not an implement question, unreadable file).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.content.quiz_models import KINDS, ImplementQuestion
from app.grading import coverage
from app.grading.bank import load_questions


def _check(args: argparse.Namespace) -> int:
    question = load_questions().get(args.question)
    if question is None:
        print(f"no question has id '{args.question}'", file=sys.stderr)
        return 2
    if not isinstance(question, ImplementQuestion):
        print(f"'{args.question}' is a {question.kind} question; check grades implement questions", file=sys.stderr)
        return 2
    try:
        code = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    from app.grading.graders import grade_implement
    from app.grading.sandbox import shared_sandbox

    grade = grade_implement(question, code, seed=args.seed, sandbox=shared_sandbox())
    out = {
        "passed": grade.correct,
        "cases_passed": grade.details.get("cases_passed", 0),
        "cases_total": grade.details.get("cases_total", 0),
        "message": grade.feedback,
    }
    if grade.details.get("first_failure"):
        out["first_failure"] = grade.details["first_failure"]
    if args.json:
        print(json.dumps(out))
    else:
        print(("PASS " if grade.correct else "FAIL ") + grade.feedback)
        failure = grade.details.get("first_failure")
        if failure:
            for name, value in failure["inputs"].items():
                print(f"  {name} = {value}")
            print(f"  expected: {failure['expected']}\n  got:      {failure['got']}")
    return 0 if grade.correct else 1


def _coverage(args: argparse.Namespace) -> int:
    if args.check:
        problems = coverage.check()
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    path = coverage.write()
    print(f"wrote {path}", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    for q in load_questions().filter(kinds=[args.kind] if args.kind else None):
        print(f"{q.id}\t{q.kind}\t{q.topic.value if q.topic else ''}\t{q.difficulty}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.grading", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="grade a solution file for an implement question")
    check.add_argument("--question", required=True, help="the question id, e.g. discounted-returns")
    check.add_argument("--file", required=True, help="a Python file defining the function")
    check.add_argument("--seed", type=int, default=0, help="seed of the random cases (default 0)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(run=_check)
    cov = sub.add_parser("coverage", help="regenerate quizzes/COVERAGE.md (or --check it)")
    cov.add_argument("--check", action="store_true", help="exit 1 if stale or incomplete")
    cov.set_defaults(run=_coverage)
    lst = sub.add_parser("list", help="list the questions")
    lst.add_argument("--kind", choices=KINDS)
    lst.set_defaults(run=_list)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
