"""Every coding drill in the banks, whatever they hold: names and signatures agree, the reference
passes and the starter fails, feedback shows the first failing case, and the CLI grades a file.

No test here names a drill: a drill added to a bank in YAML is checked by all of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.content.coderef import defined_function, function_parameters
from app.content.quiz_models import CaseSpec, ImplementQuestion
from app.grading.__main__ import main as cli
from app.grading.bank import Questions, load_questions
from app.grading.cases import build
from app.grading.graders import grade_implement
from app.grading.sandbox import Sandbox
from app.grading.solutions import reference_solution

ROOT = Path(__file__).resolve().parents[3]
DRILLS = sorted(q.id for q in load_questions().filter(kinds=["implement"]))


def drill(questions: Questions, qid: str) -> ImplementQuestion:
    question = questions.get(qid)
    assert isinstance(question, ImplementQuestion), f"no implement question '{qid}'"
    return question


def drills_where(predicate) -> list[str]:
    return [qid for qid in DRILLS if predicate(load_questions().get(qid))]


def test_the_banks_have_drills_and_each_declares_its_cases_in_yaml(questions: Questions) -> None:
    assert DRILLS
    for qid in DRILLS:
        assert isinstance(drill(questions, qid).cases, CaseSpec), f"{qid} still needs a Python generator"


@pytest.mark.parametrize("qid", DRILLS)
def test_signature_matches_the_reference_the_starter_and_the_cases(questions: Questions, qid: str) -> None:
    question = drill(questions, qid)
    starter = defined_function(question.starter, question.function)
    signature = defined_function(f"def {question.signature}:\n    pass\n", question.function)
    assert starter is not None and signature is not None
    assert signature.names == starter.names
    names = list(build(question.case_generator, 0).cases[0].args)
    assert sorted(names) == sorted(starter.names)
    assert function_parameters(question.reference).mismatch(names) == ""


@pytest.mark.parametrize("qid", DRILLS)
def test_reference_passes_and_starter_fails(questions: Questions, warm_sandbox: Sandbox, qid: str) -> None:
    question = drill(questions, qid)
    for seed in (0, 1):
        passed = grade_implement(question, reference_solution(question), seed=seed, sandbox=warm_sandbox)
        assert passed.correct, passed.feedback
        assert passed.details["cases_passed"] == passed.details["cases_total"] >= 5
    failed = grade_implement(question, question.starter, sandbox=warm_sandbox)
    assert not failed.correct
    failure = failed.details["first_failure"]
    assert failure["inputs"] and failure["expected"] and failure["got"]


@pytest.mark.parametrize("qid", DRILLS)
def test_cases_start_with_notes_and_vary_with_the_seed(questions: Questions, qid: str) -> None:
    source = drill(questions, qid).case_generator
    first, second = build(source, 0), build(source, 1)
    assert all(case.note for case in first.cases)
    assert first.cases[0].note != "random"  # edge cases come first
    assert repr(first.cases[-1].args) != repr(second.cases[-1].args)  # random cases follow the seed
    assert repr(build(source, 0).cases) == repr(first.cases)  # and only the seed


@pytest.mark.parametrize("qid", DRILLS)
def test_feedback_shows_the_first_failing_case(questions: Questions, warm_sandbox: Sandbox, qid: str) -> None:
    question = drill(questions, qid)
    cases = build(question.case_generator, 0).cases
    # Right on every case but the first: the reference, except on the first case's exact inputs.
    first = cases[0]
    wrong_once = (
        reference_solution(question)
        + f"\n_reference = {question.function}\n"
        + f"_calls = []\n\ndef {question.function}(*args, **kwargs):\n"
        + "    _calls.append(1)\n"
        + "    out = _reference(*args, **kwargs)\n"
        + "    return out * 2 + 1 if len(_calls) == 1 else out\n"
    )
    grade = grade_implement(question, wrong_once, sandbox=warm_sandbox)
    assert not grade.correct
    failure = grade.details["first_failure"]
    assert failure["note"] == first.note
    assert set(failure["inputs"]) == set(first.args)
    signature = defined_function(f"def {question.signature}:\n    pass\n", question.function)
    assert list(failure["inputs"]) == [name for name in signature.names if name in first.args]  # as the learner's
    assert grade.details["cases_passed"] == len(cases) - 1


@pytest.mark.parametrize("qid", drills_where(lambda q: isinstance(q.cases, CaseSpec) and q.cases.grad))
def test_a_result_that_leaves_the_graph_fails_on_its_gradient(
    questions: Questions, warm_sandbox: Sandbox, qid: str
) -> None:
    question = drill(questions, qid)
    detached = (
        reference_solution(question)
        + f"\n_reference = {question.function}\n\ndef {question.function}(*args, **kwargs):\n"
        + "    out = _reference(*args, **kwargs)\n    return out.detach().requires_grad_(True)\n"
    )
    grade = grade_implement(question, detached, sandbox=warm_sandbox)
    assert not grade.correct
    assert f"no gradient reaches {question.cases.grad[0]}" in grade.feedback


@pytest.mark.parametrize("qid", drills_where(lambda q: isinstance(q.cases, CaseSpec) and q.cases.returns == "int"))
def test_an_integer_answer_must_be_an_integer(questions: Questions, warm_sandbox: Sandbox, qid: str) -> None:
    question = drill(questions, qid)
    as_float = (
        reference_solution(question)
        + f"\n_reference = {question.function}\n\ndef {question.function}(*args, **kwargs):\n"
        + "    return float(_reference(*args, **kwargs))\n"
    )
    grade = grade_implement(question, as_float, sandbox=warm_sandbox)
    assert not grade.correct and "expected an integer" in grade.feedback


def test_syntax_errors_and_missing_functions_are_reported(questions: Questions, warm_sandbox: Sandbox) -> None:
    question = drill(questions, DRILLS[0])
    broken = grade_implement(question, f"def {question.function}(x\n", sandbox=warm_sandbox)
    assert not broken.correct and "did not load" in broken.feedback and "SyntaxError" in broken.feedback
    missing = grade_implement(question, "def something_else():\n    pass\n", sandbox=warm_sandbox)
    assert f"defines no function named {question.function}" in missing.feedback
    huge = grade_implement(question, "#" * 200_000, sandbox=warm_sandbox)
    assert not huge.correct and "longer than 100000 characters" in huge.feedback


def test_cli_check_prints_one_json_object(
    tmp_path: Path, questions: Questions, warm_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    question = drill(questions, DRILLS[0])
    total = len(build(question.case_generator, 0).cases)
    good = tmp_path / "good.py"
    good.write_text(reference_solution(question))
    bad = tmp_path / "bad.py"
    bad.write_text(question.starter)
    for path, passed, code in ((good, True, 0), (bad, False, 1)):
        assert cli(["check", "--question", question.id, "--file", str(path), "--json"]) == code
        out = json.loads(capsys.readouterr().out)
        assert out["passed"] is passed
        assert out["cases_total"] == total and (out["cases_passed"] == total) is passed
        assert out["message"]
        assert ("first_failure" in out) is not passed
    assert cli(["check", "--question", "nope", "--file", str(good), "--json"]) == 2
    assert "no question has id 'nope'" in capsys.readouterr().err
    # `check` grades every kind now: a drill's code is no explanation, so it fails (1), not "no such drill" (2)
    not_a_drill = next(q.id for q in questions.by_id.values() if q.kind == "explain")
    assert cli(["check", "--question", not_a_drill, "--file", str(good)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_entry_point_runs(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "app.grading", "list", "--kind", "implement"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert sorted(line.split("\t")[0] for line in run.stdout.splitlines()) == DRILLS
