"""What a valid-typed question bank can still get wrong, checked against the lessons and the code.

Distractors that repeat or equal an answer, a bug line outside its code, a predict question whose
prompt or arguments name an unknown parameter or whose args do not fit the function, a reference that
does not resolve in algorithms/, an implement question whose id is not its function's name in kebab
case or whose reference, starter and signature do not take the cases' arguments. Checks that need the
code run it, as grading will: a predict key is computed on three seeds (app/grading/predict.py) and a
drill's reference on its drawn cases (app/grading/cases.py, app/grading/graders.py), remembered per
question. `check_bank` returns (location, message) pairs; the loader turns them into
`FILE:LINE: field: message`.

This module sits above the schema (app/content/quiz_models.py) and the grader's answer keys, which
import the schema: so no import goes round a loop. The grader's modules are imported when a check
first needs them, so the catalogue stays light until a bank has a predict or implement question.
"""

from __future__ import annotations

import ast
import contextvars
import functools
import json
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.content.coderef import CodeRefError, defined_function, function_parameters, resolve
from app.content.quiz_models import (
    SOURCES,
    AnyQuestion,
    CaseSpec,
    ChoiceQuestion,
    ExplainQuestion,
    ImplementQuestion,
    Loc,
    OrderQuestion,
    PredictQuestion,
    QuizBank,
    SpotTheBugQuestion,
    _mtime,
    parse_source,
)
from app.settings import ROOT

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def check_bank(bank: QuizBank, lesson_ids: set[str] | None, run_code: bool = True) -> list[tuple[Loc, str]]:
    """Problems a valid-typed bank can still have. lesson_ids None skips the lesson check;
    run_code False skips the checks that run the reference code (predict and implement)."""
    problems: list[tuple[Loc, str]] = []
    seen: dict[str, int] = {}
    for index, question in enumerate(bank.questions):
        loc: Loc = ("questions", index)
        if question.id in seen:
            problems.append(
                ((*loc, "id"), f"question id '{question.id}' is used twice (first at questions[{seen[question.id]}])")
            )
        seen.setdefault(question.id, index)
        problems += [((*loc, *sub), message) for sub, message in check_question(question, lesson_ids, run_code)]
    return problems


def check_question(q: AnyQuestion, lesson_ids: set[str] | None, run_code: bool = True) -> Iterator[tuple[Loc, str]]:
    items = [parse_source(source)[:2] for source in q.sources]
    for i, source in enumerate(q.sources):
        seed, section, _ = parse_source(source)
        if items.index((seed, section)) != i:
            yield ("sources", i), f"'{seed}:{section}' is listed twice (once is enough: full or partial)"
        if seed not in SOURCES:
            yield ("sources", i), f"unknown seed '{seed}'; seeds: {', '.join(SOURCES)}"
        elif section not in SOURCES[seed]:
            known = "1 to 59" if seed == "003" else ", ".join(SOURCES[seed])
            yield ("sources", i), f"seed {seed} has no section '{section}'; it has: {known}"
    if lesson_ids is not None:
        for i, lesson in enumerate(q.lessons):
            if lesson not in lesson_ids:
                yield ("lessons", i), f"no lesson has id '{lesson}' in lessons/"
    if q.code is not None:
        try:
            resolve(q.code)
        except CodeRefError as exc:
            yield ("code",), str(exc)
    if isinstance(q, ChoiceQuestion):
        yield from _check_choice(q)
    elif isinstance(q, PredictQuestion) and run_code:
        yield from _checked_against_code(q, _check_predict)
    elif isinstance(q, OrderQuestion):
        if len({_norm(s) for s in q.steps}) != len(q.steps):
            yield ("steps",), "two steps are the same: the order would be ambiguous"
    elif isinstance(q, ImplementQuestion) and run_code:
        yield from _checked_against_code(q, _check_implement)
    elif isinstance(q, ExplainQuestion):
        if q.pass_mark is not None and q.pass_mark > len(q.rubric):
            yield ("pass_mark",), f"pass_mark {q.pass_mark} is more than the {len(q.rubric)} rubric points"
    elif isinstance(q, SpotTheBugQuestion):
        lines = q.snippet.rstrip("\n").split("\n")
        if q.bug_line > len(lines):
            yield ("bug_line",), f"the snippet has {len(lines)} lines; bug_line {q.bug_line} is past its end"
        elif not lines[q.bug_line - 1].strip():
            yield ("bug_line",), f"line {q.bug_line} of the snippet is blank"
        if q.fix_pass_mark > len(q.fix):
            yield ("fix_pass_mark",), f"fix_pass_mark {q.fix_pass_mark} is more than the {len(q.fix)} fix points"


def _check_choice(q: ChoiceQuestion) -> Iterator[tuple[Loc, str]]:
    answers = [_norm(a) for a in q.answers]
    if len(set(answers)) != len(answers):
        yield ("answer",), "an answer is listed twice"
    seen: set[str] = set()
    for i, distractor in enumerate(q.distractors):
        key = _norm(distractor)
        if key in answers:
            yield ("distractors", i), "this distractor is also an answer"
        elif key in seen:
            yield ("distractors", i), "this distractor repeats an earlier one"
        seen.add(key)


# `python -m app.content validate` sets it: run every drill's reference, torch ones included.
CHECK_TORCH_DRILLS: contextvars.ContextVar[bool] = contextvars.ContextVar("check_torch_drills", default=False)


HEAVY_MODULES = ("torch", "gymnasium")


def _needs_torch(source: Any) -> bool:
    """Whether building a drill's declared cases or running its reference needs torch."""
    if not isinstance(source, CaseSpec):
        return False  # a named Python generator: it decides for itself
    return source.returns == "tensor" or any(arg.kind == "tensor" for arg in source.args.values())


@functools.lru_cache(maxsize=256)
def imports_heavy(module: str) -> bool:
    """Whether importing one of our modules loads torch or gymnasium, from its module-level imports
    (followed through our own modules; imports inside functions are lazy and do not count)."""
    base = ROOT / Path(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return False
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    for name in names:
        if name.split(".")[0] in HEAVY_MODULES:
            return True
        if name.split(".")[0] in ("algorithms", "app") and name != module:
            target = ROOT / Path(*name.split("."))
            if (target.with_suffix(".py").exists() or (target / "__init__.py").exists()) and imports_heavy(name):
                return True
    return False


def _heavy_check_deferred(call: str, needs_torch: bool = False) -> bool:
    """True when a page (not `validate`) would have to import torch or gymnasium for this check
    and neither is loaded yet: the check then waits for validate (CI, `make validate`) or for a
    process that has loaded them anyway. A choice question must not cost seconds of imports."""
    if CHECK_TORCH_DRILLS.get() or any(m in sys.modules for m in HEAVY_MODULES):
        return False
    return needs_torch or imports_heavy(call.partition(":")[0])


_code_checks: dict[tuple[str, tuple[tuple[str, int], ...]], list[tuple[Loc, str]]] = {}
_code_checks_lock = threading.Lock()


def _algorithms_fingerprint() -> tuple[tuple[str, int], ...]:
    return tuple((str(p), _mtime(p)) for p in sorted((ROOT / "algorithms").rglob("*.py")))


def _checked_against_code(q: Any, check: Any) -> Iterator[tuple[Loc, str]]:
    """The checks that run the reference (seconds for all banks), remembered per question text
    and algorithms/ version: the catalogue and the grader's bank share them, and an edit to one
    question re-runs only that question's."""
    torch_checks = CHECK_TORCH_DRILLS.get() or any(m in sys.modules for m in HEAVY_MODULES)
    key = (type(q).__name__ + q.model_dump_json() + str(torch_checks), _algorithms_fingerprint())
    with _code_checks_lock:
        cached = _code_checks.get(key)
    if cached is None:
        cached = list(check(q))
        with _code_checks_lock:
            if len(_code_checks) > 2000:
                _code_checks.clear()
            _code_checks[key] = cached
    yield from cached


def _check_predict(q: PredictQuestion) -> Iterator[tuple[Loc, str]]:
    for name in _PLACEHOLDER.findall(q.prompt):
        if name not in q.params:
            yield ("prompt",), f"the prompt shows {{{{{name}}}}} but there is no parameter '{name}'"
    unknown_refs = False
    for name, value in q.answer_from.args.items():
        for ref in _param_refs(value):
            if ref not in q.params:
                unknown_refs = True
                yield ("answer_from", "args", name), f"'${ref}' names no parameter; parameters: {', '.join(q.params)}"
    try:
        params = function_parameters(q.answer_from.call)
    except CodeRefError as exc:
        yield ("answer_from", "call"), str(exc)
        return
    mismatch = params.mismatch(q.answer_from.args)
    if mismatch:
        yield ("answer_from", "args"), f"{q.answer_from.call}{params} is called with these args: {mismatch}"
    if mismatch or unknown_refs:
        return
    # Compute the key as Practice will, on a few seeds: an index out of range, a shape the
    # reference refuses or an expr that divides by zero is caught here, not by a learner.
    if _heavy_check_deferred(q.answer_from.call, "tensor" in json.dumps(q.answer_from.args, default=str)):
        return
    from app.grading import predict  # lazy: this module stays light and free of numpy

    for seed in (0, 1, 2):
        try:
            inst = predict.instance(q, seed)
        except Exception as exc:
            by_index = q.answer_from.index is not None and _is_index_error(exc)
            where: Loc = ("answer_from", "index") if by_index else ("answer_from",)
            yield where, f"computing the answer key failed (seed {seed}): {type(exc).__name__}: {exc}"
            return
        if not predict.is_finite(inst.expected):
            yield ("answer_from",), f"the answer key is not a finite number (seed {seed}): {inst.expected!r}"
            return


def _is_index_error(exc: Exception) -> bool:
    return isinstance(exc, IndexError | KeyError | TypeError)


def _param_refs(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield from re.findall(r"\$([A-Za-z_]\w*)", value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _param_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _param_refs(item)


def _check_implement(q: ImplementQuestion) -> Iterator[tuple[Loc, str]]:
    kebab = q.function.replace("_", "-")
    if q.id != kebab:
        yield ("id",), f"an implement question's id is its function's name in kebab case: '{kebab}'"
    try:
        starter = defined_function(q.starter, q.function)
    except SyntaxError as exc:
        yield ("starter",), f"the starter does not parse: {exc.msg} (line {exc.lineno} of the starter)"
        starter = None
    else:
        if starter is None:
            yield ("starter",), f"the starter must define {q.function}(...)"
    try:
        signature = defined_function(f"def {q.signature}:\n    pass\n", q.function)
    except SyntaxError:
        signature = None
    if signature is None:
        yield ("signature",), f"the signature must read like '{q.function}(arg, ...)', as after 'def '"
    elif starter is not None and signature.names != starter.names:
        yield (
            ("signature",),
            f"the signature's parameters ({', '.join(signature.names)}) differ from the starter's "
            f"({', '.join(starter.names)})",
        )
    try:
        reference = function_parameters(q.reference)
    except CodeRefError as exc:
        yield ("reference",), str(exc)
        return
    try:  # the case generators live with the grader; a lazy import keeps this module light
        from app.grading import cases as case_lib
    except ImportError:  # pragma: no cover - the grading package is part of the app
        return
    source = q.case_generator
    if isinstance(source, CaseSpec):
        spec_problems = case_lib.spec_problems(source)
        for loc, message in spec_problems:
            yield ("cases", *loc), message
        if spec_problems:
            return
    elif source not in case_lib.CASE_GENERATORS:
        known = ", ".join(sorted(case_lib.CASE_GENERATORS)) or "none"
        yield (
            ("cases",),
            f"no case generator '{source}' in app/grading/cases.py (known: {known}); declare the cases in YAML "
            "instead (quizzes/README.md, 'Coding drills')",
        )
        return
    if _heavy_check_deferred(q.reference, _needs_torch(source)):
        return
    try:
        caseset = case_lib.build(source, 0)
    except Exception as exc:
        yield ("cases",), f"building the cases failed: {type(exc).__name__}: {exc}"
        return
    names = list(dict.fromkeys(name for case in caseset.cases for name in case.args))
    given = f"the cases pass ({', '.join(names)})"
    mismatch = reference.mismatch(names)
    if mismatch:
        yield ("reference",), f"{q.reference}{reference} does not fit the cases: {given}; {mismatch}"
    starter_mismatch = starter.mismatch(names) if starter is not None else ""
    if starter_mismatch:
        yield ("starter",), f"the starter's {q.function}{starter} does not fit the cases: {given}; {starter_mismatch}"
    if mismatch or starter_mismatch:
        return
    from app.grading.graders import expected_outputs  # the answer key, computed as grading will

    try:
        expected = expected_outputs(q, caseset)
    except Exception as exc:
        yield ("reference",), f"the reference fails on the cases: {type(exc).__name__}: {exc}"
        return
    yield from _returns_fit_the_reference(caseset, expected)


def _returns_fit_the_reference(caseset: Any, expected: list[dict[str, Any]]) -> Iterator[tuple[Loc, str]]:
    """The reference's own result must pass the comparison `returns` declares, else no answer can."""
    from app.grading.graders import compare

    for case, entry in zip(caseset.cases, expected, strict=False):
        output = entry["output"]
        problem = compare(output, output, caseset.returns, caseset.rtol, caseset.atol)
        if problem is None:
            continue
        got = output["type"]  # int, float, array or tensor: the names `returns` takes
        if got != caseset.returns:
            yield (
                ("cases", "returns"),
                f"the reference returns {'an' if got in ('int', 'array') else 'a'} {got} "
                f"(shape {tuple(output['shape'])}, case '{case.note}'), so with returns: {caseset.returns} "
                f"even the reference's own answer fails; write returns: {got}",
            )
        else:  # a nan never equals itself
            yield ("reference",), f"the reference's result on case '{case.note}' fails against itself: {problem}"
        return
