"""One grader per kind of question. Each returns a `Grade`: correct or not, a score, feedback, details.

Choice and order questions shuffle their options per attempt (seeded, so a page rerun shows the
same order); predict questions compute their key with the reference; explain and spot-the-bug
answers are graded point by point for meaning (app/grading/semantic.py, or an LLM judge);
implement answers run in the sandbox and their outputs are
compared here, in the parent, with the reference's.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.content.quiz_models import (
    AnyQuestion,
    ChoiceQuestion,
    ExplainQuestion,
    ImplementQuestion,
    OrderQuestion,
    PredictQuestion,
    SpotTheBugQuestion,
)
from app.grading import cases as case_lib
from app.grading import judge, predict, semantic
from app.grading.sandbox import Sandbox, SandboxResult, shared_sandbox
from app.grading.sandbox_runner import OutputError, encode_output
from app.words import counted


@dataclass
class Grade:
    question_id: str
    kind: str
    correct: bool
    score: float  # 0 to 1
    feedback: str  # one short markdown paragraph
    details: dict[str, Any] = field(default_factory=dict)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _shuffled(items: list[str], question_id: str, seed: int) -> list[str]:
    rng = predict.rng_for(question_id, seed)
    order = list(rng.permutation(len(items)))
    return [items[i] for i in order]


# ---------------------------------------------------------------------------------------------
# choice, order, predict
# ---------------------------------------------------------------------------------------------


def choice_options(q: ChoiceQuestion, seed: int) -> list[str]:
    return _shuffled([*q.answers, *q.distractors], q.id, seed)


def grade_choice(q: ChoiceQuestion, response: str | list[str] | None) -> Grade:
    picked = [] if response is None else [response] if isinstance(response, str) else list(response)
    want = {_norm(a) for a in q.answers}
    got = {_norm(p) for p in picked}
    correct = got == want
    right = len(got & want)
    wrong = len(got - want)
    score = 1.0 if correct else max(0.0, (right - wrong) / len(want))
    if correct:
        feedback = "Correct."
    elif not picked:
        feedback = "No answer picked."
    elif q.multiple:
        feedback = f"Not quite: {right} of {len(want)} right answers picked, {counted(wrong, 'wrong one')}."
    else:
        feedback = "Not this one."
    return Grade(q.id, q.kind, correct, score, feedback, {"answers": q.answers, "picked": picked})


def order_options(q: OrderQuestion, seed: int) -> list[str]:
    shuffled = _shuffled(list(q.steps), q.id, seed)
    if shuffled == list(q.steps):  # never show the answer as the starting point
        shuffled = shuffled[1:] + shuffled[:1]
    return shuffled


def grade_order(q: OrderQuestion, response: list[str] | None) -> Grade:
    picked = list(response or [])
    steps = list(q.steps)
    in_place = [i < len(picked) and _norm(picked[i]) == _norm(step) for i, step in enumerate(steps)]
    correct = len(picked) == len(steps) and all(in_place)
    score = sum(in_place) / len(steps)
    if correct:
        feedback = "Correct order."
    elif len(picked) < len(steps):
        feedback = f"Put all {len(steps)} steps in order ({len(picked)} placed so far)."
    else:
        feedback = f"{sum(in_place)} of {len(steps)} steps are in the right place."
    return Grade(q.id, q.kind, correct, score, feedback, {"correct_order": steps, "in_place": in_place})


def grade_predict(q: PredictQuestion, seed: int, response: str | float | None) -> Grade:
    inst = predict.instance(q, seed)
    expected_text = predict.format_answer(inst.expected)
    try:
        got = predict.parse_answer(str(response if response is not None else ""), inst.answer_kind)
    except ValueError as exc:
        return Grade(q.id, q.kind, False, 0.0, f"Could not read the answer: {exc}.", {"expected": expected_text})
    correct = predict.close_enough(got, inst.expected, inst.answer_kind, q.tolerance)
    if correct:
        feedback = f"Correct: {expected_text}."
    else:
        tol = "" if inst.answer_kind == "int" else f" (within {predict.number(q.tolerance)})"
        feedback = f"Not quite: the reference computes {expected_text}{tol}; you answered {predict.format_answer(got)}."
    return Grade(
        q.id, q.kind, correct, float(correct), feedback, {"expected": expected_text, "reference": q.answer_from.call}
    )


# ---------------------------------------------------------------------------------------------
# explain, spot-the-bug
# ---------------------------------------------------------------------------------------------


def _rubric_details(result: semantic.PointsResult) -> dict[str, Any]:
    return {
        "hit": result.hit,
        "missed": result.missed,
        "contradicted": result.contradicted,
        "points": [v.as_dict() for v in result.verdicts],
        "grader": result.grader,
    }


def _points(q: ExplainQuestion | SpotTheBugQuestion, text: str) -> semantic.PointsResult:
    """The LLM judge when one is configured (RLDOJO_JUDGE_URL), else (or when it fails) the offline grader."""
    fix = isinstance(q, SpotTheBugQuestion)
    points, reference = (q.fix, q.model_fix) if fix else (q.rubric, q.model_answer)
    config = judge.JudgeConfig.from_env()
    if config is not None and text.strip():
        verdict = judge.judge(config, q.prompt, points, text)
        if verdict is not None:
            return verdict
    return semantic.grade_points(points, text, reference, fix=fix)


def grade_explain(q: ExplainQuestion, text: str | None) -> Grade:
    result = _points(q, text or "")
    need = q.points_to_pass
    correct = result.score >= need
    feedback = f"{result.score} of {len(q.rubric)} key points made ({need} needed)."
    if result.contradicted:
        feedback += f" {len(result.contradicted)} contradicted."
    details = {**_rubric_details(result), "model_answer": q.model_answer}
    return Grade(q.id, q.kind, correct, result.score / len(q.rubric), feedback, details)


def grade_spot_the_bug(q: SpotTheBugQuestion, line: int | None, fix: str | None) -> Grade:
    line_ok = line == q.bug_line
    result = _points(q, fix or "")
    fix_ok = result.score >= q.fix_pass_mark
    correct = line_ok and fix_ok
    parts = [f"Line {line}: right line." if line_ok else f"Line {line}: not the line with the bug."]
    if fix_ok:
        parts.append("The fix is right.")
    elif result.contradicted:
        parts.append("The fix says the opposite of what is needed.")
    else:
        parts.append("The fix does not yet say what changes.")
    score = (0.5 if line_ok else 0.0) + (0.5 * min(1.0, result.score / q.fix_pass_mark))
    details = {**_rubric_details(result), "bug_line": q.bug_line, "line_ok": line_ok, "model_fix": q.model_fix}
    return Grade(q.id, q.kind, correct, score, " ".join(parts), details)


# ---------------------------------------------------------------------------------------------
# implement
# ---------------------------------------------------------------------------------------------


def reference_function(q: ImplementQuestion) -> Any:
    module_name, _, name = q.reference.partition(":")
    return getattr(importlib.import_module(module_name), name)


def _fresh(value: Any) -> Any:
    if type(value).__module__.startswith("torch"):
        return value.detach().clone().requires_grad_(value.requires_grad)
    return copy.deepcopy(value)


def expected_outputs(q: ImplementQuestion, caseset: case_lib.CaseSet) -> list[dict[str, Any]]:
    """The reference's outputs (and gradients) on every case, encoded like the sandbox's."""
    reference = reference_function(q)
    out = []
    for case in caseset.cases:
        args = {k: _fresh(v) for k, v in case.args.items()}
        value = reference(**args)
        entry: dict[str, Any] = {"output": encode_output(value)}
        if case.grad:
            value.sum().backward()
            entry["grads"] = {name: encode_output(args[name].grad) for name in case.grad}
        out.append(entry)
    return out


_KIND_WORDS = {"int": "an integer", "float": "a float", "array": "a numpy array", "tensor": "a torch tensor"}
_SCALAR_HINT = {"array": " (call float() on it)", "tensor": " (call .item() on it)"}


def _float(value: Any) -> float:
    try:
        return float(value)  # "inf", "-inf" and "nan" arrive as tags
    except OverflowError:  # an integer beyond float range
        return float("inf") if value > 0 else float("-inf")


def _values(encoded: dict[str, Any]) -> np.ndarray:
    return np.asarray([_float(v) for v in encoded["values"]], dtype=float).reshape(encoded["shape"])


def compare(expected: dict[str, Any], got: dict[str, Any], returns: str, rtol: float, atol: float) -> str | None:
    """None when `got` matches; otherwise why not, in a sentence."""
    if returns == "int" and got["type"] != "int":
        return f"expected {_KIND_WORDS['int']} (an index), got {_KIND_WORDS.get(got['type'], got['type'])}"
    if returns == "tensor" and got["type"] != "tensor":
        return f"expected {_KIND_WORDS['tensor']} (keep it in the autograd graph), got {_KIND_WORDS.get(got['type'])}"
    if returns == "float" and got["type"] not in ("float", "int"):
        hint = _SCALAR_HINT.get(got["type"], "")
        return f"expected {_KIND_WORDS['float']} (one number), got {_KIND_WORDS.get(got['type'], got['type'])}{hint}"
    if returns == "array" and got["type"] not in ("array",):
        return f"expected {_KIND_WORDS['array']}, got {_KIND_WORDS.get(got['type'], got['type'])}"
    if list(got["shape"]) != list(expected["shape"]):
        return f"expected shape {tuple(expected['shape'])}, got shape {tuple(got['shape'])}"
    exp, val = _values(expected), _values(got)
    if returns == "int":
        return None if np.array_equal(exp, val) else "a different index"
    if not np.allclose(val, exp, rtol=rtol, atol=atol, equal_nan=False):
        if not np.all(np.isfinite(val)) and np.all(np.isfinite(exp)):
            return "your output is not finite (inf or nan) where the reference's is"
        return "different values"
    return None


def _show(encoded: dict[str, Any] | None) -> str:
    if encoded is None:
        return "nothing"
    values = _values(encoded)
    text = predict.format_value(values) if values.ndim else predict.number(values.item())
    return f"tensor({text})" if encoded["type"] == "tensor" else text


def _in_signature_order(q: ImplementQuestion, args: dict[str, Any]) -> dict[str, Any]:
    """A case's arguments in the order the learner's function takes them (a bank may declare an
    argument after the one it is drawn near: `logp: {plus: logp_old}`)."""
    from app.content.coderef import defined_function

    try:
        names = defined_function(f"def {q.signature}:\n    pass\n", q.function)
    except SyntaxError:
        names = None
    order = list(names.names) if names is not None else []
    return dict(sorted(args.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))


def show_inputs(args: dict[str, Any]) -> dict[str, str]:
    shown = {}
    for name, value in args.items():
        if type(value).__module__.startswith("torch"):
            shown[name] = f"tensor({predict.format_value(value.detach().numpy())}, dtype={str(value.dtype)[6:]})"
        elif isinstance(value, np.ndarray):
            shown[name] = f"np.array({predict.format_value(value)})"
        else:
            shown[name] = repr(value)
    return shown


_STATUS_MESSAGES = {
    "timeout": "Your code ran past the time limit and was stopped (an endless loop, a sleep?).",
    "cpu": "Your code used up its CPU time and was stopped (an endless loop?).",
    "killed": "Your code was stopped: it used more CPU time or memory than allowed, or was killed.",
    "crashed": "Your code crashed the process that ran it.",
    "unavailable": "The sandbox that runs code is not available on this server.",
}


def grade_implement(
    q: ImplementQuestion,
    code: str,
    seed: int = 0,
    sandbox: Sandbox | None = None,
    limits: dict[str, Any] | None = None,
) -> Grade:
    caseset = case_lib.build(q.case_generator, seed)
    total = len(caseset.cases)
    expected = expected_outputs(q, caseset)
    sandbox = sandbox or shared_sandbox()
    result = sandbox.run(code, q.function, [{"args": c.args, "grad": c.grad} for c in caseset.cases], limits)
    base = {"cases_total": total, "cases_passed": 0, "stdout": result.stdout, "sandbox": sandbox.isolation}
    if result.status != "ok":
        return Grade(q.id, q.kind, False, 0.0, _sandbox_message(result), {**base, "status": result.status})
    passed, first_failure = 0, None
    for case, want, got in zip(caseset.cases, expected, result.results, strict=False):
        problem = _case_problem(case, want, got, caseset)
        if problem is None:
            passed += 1
        elif first_failure is None:
            first_failure = {
                "note": case.note,
                "inputs": show_inputs(_in_signature_order(q, case.args)),
                "expected": _show(want["output"]),
                "got": _show(got.get("output")) if got.get("ok") else "an error",
                "problem": problem,
            }
    correct = passed == total
    if correct:
        feedback = f"All {total} cases pass."
    else:
        feedback = (
            f"{passed} of {total} cases pass. First failing case ({first_failure['note']}): {first_failure['problem']}."
        )
    details = {**base, "cases_passed": passed, "status": "ok", "first_failure": first_failure}
    return Grade(q.id, q.kind, correct, passed / total, feedback, details)


def _case_problem(
    case: case_lib.Case, want: dict[str, Any], got: dict[str, Any], caseset: case_lib.CaseSet
) -> str | None:
    if not got.get("ok"):
        where = f" (line {got['line']})" if got.get("line") else ""
        return f"{got.get('error', 'an error')}{where}"
    problem = compare(want["output"], got["output"], caseset.returns, caseset.rtol, caseset.atol)
    if problem:
        return problem
    for name in case.grad:
        got_grad = (got.get("grads") or {}).get(name)
        if got_grad is None:
            return (
                f"no gradient reaches {name}: compute the loss with torch operations on it "
                "(no .item(), numpy or detach)"
            )
        if compare(want["grads"][name], got_grad, "tensor", caseset.rtol, caseset.atol):
            return f"the value is right but the gradient with respect to {name} is not"
    return None


def _sandbox_message(result: SandboxResult) -> str:
    if result.status == "error":
        where = f" (line {result.line})" if result.line else ""
        if result.stage == "load":
            return f"Your code did not load: {result.error}{where}."
        return f"The sandbox reported a problem: {result.error}."
    message = _STATUS_MESSAGES.get(result.status, "Your code could not be run.")
    return f"{message} {result.error}".strip()


# ---------------------------------------------------------------------------------------------
# One entry point
# ---------------------------------------------------------------------------------------------


def grade(q: AnyQuestion, response: Any, seed: int = 0, sandbox: Sandbox | None = None) -> Grade:
    """Grade any question. `response` is: a str or list (choice), a list (order), a str (predict,
    explain), {"line": int, "fix": str} (spot-the-bug), the code (implement)."""
    if isinstance(q, ChoiceQuestion):
        return grade_choice(q, response)
    if isinstance(q, OrderQuestion):
        return grade_order(q, response)
    if isinstance(q, PredictQuestion):
        return grade_predict(q, seed, response)
    if isinstance(q, ExplainQuestion):
        return grade_explain(q, response)
    if isinstance(q, SpotTheBugQuestion):
        response = response or {}
        return grade_spot_the_bug(q, response.get("line"), response.get("fix"))
    if isinstance(q, ImplementQuestion):
        return grade_implement(q, str(response or ""), seed, sandbox)
    raise TypeError(f"no grader for {type(q).__name__}")


__all__ = ["Grade", "OutputError", "grade"]
