"""`python -m app.grading`: grade a solution file, or regenerate the syllabus coverage.

    python -m app.grading check --question discounted-returns --file solution.py [--seed 0] [--json]
    python -m app.grading check --question why-ppo-clips --file answer.txt --json
    python -m app.grading coverage [--check]
    python -m app.grading list [--kind implement]

`check` grades every kind. The file holds: the Python code (implement); the plain-text answer
(explain); the fix as plain text (spot-the-bug), with `--line N` for the line named; a JSON answer
(choice: a string or a list of strings; predict: a number, a list or a string; order: the list of
steps). `--json` prints one JSON object with at least `passed`, `score` (0 to 1) and `message`; for
implement also cases_passed, cases_total (and the first failing case); for explain and spot-the-bug
`hit`, `missed` and `contradicted` (each contradiction with the learner's sentence). The exit status
is 0 when the answer passes, 1 when it does not, 2 for a usage error (no such question, an
unreadable file, a JSON answer that does not parse).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.content.quiz_models import (
    KINDS,
    ChoiceQuestion,
    ExplainQuestion,
    ImplementQuestion,
    OrderQuestion,
    PredictQuestion,
    SpotTheBugQuestion,
)
from app.grading import coverage
from app.grading.bank import load_questions


def _check(args: argparse.Namespace) -> int:
    question = load_questions().get(args.question)
    if question is None:
        print(f"no question has id '{args.question}'", file=sys.stderr)
        return 2
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    if isinstance(question, ImplementQuestion):
        return _check_implement(question, text, args)
    from app.grading import graders

    if isinstance(question, SpotTheBugQuestion):
        response: object = {"line": args.line if args.line is not None else question.bug_line, "fix": text}
    elif isinstance(question, ExplainQuestion):
        response = text
    else:
        try:
            response = json.loads(text)
        except json.JSONDecodeError as exc:
            print(f"{args.file}: a {question.kind} answer is JSON: {exc}", file=sys.stderr)
            return 2
        if isinstance(question, OrderQuestion) and not (
            isinstance(response, list) and all(isinstance(s, str) for s in response)
        ):
            print(f"{args.file}: an order answer is a JSON list of the steps, as strings", file=sys.stderr)
            return 2
        if isinstance(question, ChoiceQuestion) and not (
            isinstance(response, str) or (isinstance(response, list) and all(isinstance(s, str) for s in response))
        ):
            print(f"{args.file}: a choice answer is a JSON string or a list of strings", file=sys.stderr)
            return 2
        if isinstance(question, PredictQuestion):
            response = response if isinstance(response, str) else json.dumps(response)
    grade = graders.grade(question, response, seed=args.seed)
    out: dict[str, object] = {"passed": grade.correct, "score": round(grade.score, 4), "message": grade.feedback}
    for key in ("hit", "missed", "contradicted", "grader", "line_ok", "expected"):
        if key in grade.details:
            out[key] = grade.details[key]
    if args.json:
        print(json.dumps(out))
    else:
        print(("PASS " if grade.correct else "FAIL ") + grade.feedback)
        for point in grade.details.get("hit", []):
            print(f"  hit:          {point}")
        for point in grade.details.get("missed", []):
            print(f"  missed:       {point}")
        for c in grade.details.get("contradicted", []):
            print(f"  contradicted: {c['point']}\n    you wrote: {c['sentence']}")
    return 0 if grade.correct else 1


def _check_implement(question: ImplementQuestion, code: str, args: argparse.Namespace) -> int:
    from app.grading.graders import grade_implement
    from app.grading.sandbox import shared_sandbox

    grade = grade_implement(question, code, seed=args.seed, sandbox=shared_sandbox())
    out = {
        "passed": grade.correct,
        "score": round(grade.score, 4),
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
    check = sub.add_parser("check", help="grade an answer file for any question")
    check.add_argument("--question", required=True, help="the question id, e.g. discounted-returns")
    check.add_argument("--file", required=True, help="the answer: .py (implement), text (explain, fix), JSON")
    check.add_argument("--seed", type=int, default=0, help="seed of the random cases or parameters (default 0)")
    check.add_argument("--line", type=int, help="spot-the-bug: the line named (default: the right one)")
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
