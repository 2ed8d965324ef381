"""The eleven coding drills: exact names and signatures, the reference passes, the starter fails,
feedback shows the first failing case, and the CLI grades a file."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.content.quiz_models import ImplementQuestion
from app.grading.__main__ import main as cli
from app.grading.bank import Questions
from app.grading.cases import CASE_GENERATORS, build
from app.grading.graders import grade_implement, reference_function
from app.grading.sandbox import Sandbox
from app.grading.solutions import reference_solution

ROOT = Path(__file__).resolve().parents[3]
DRILLS = {
    "discounted_returns": ("rewards", "gamma"),
    "gae": ("rewards", "values", "dones", "gamma", "lam"),
    "bellman_optimality_backup": ("P", "R", "V", "gamma"),
    "q_learning_update": ("Q", "s", "a", "r", "s_next", "done", "alpha", "gamma"),
    "epsilon_greedy": ("q", "epsilon", "u", "k"),
    "ucb_action": ("q", "n", "t", "c"),
    "reinforce_loss": ("log_probs", "rewards", "gamma"),
    "ppo_clip_loss": ("logp", "logp_old", "adv", "clip_eps"),
    "bradley_terry_loss": ("r_chosen", "r_rejected"),
    "dpo_loss": ("pi_chosen", "pi_rejected", "ref_chosen", "ref_rejected", "beta"),
    "kl_shaped_reward": ("reward", "logp", "logp_ref", "beta"),
}
IDS = [name.replace("_", "-") for name in DRILLS]


def drill(questions: Questions, qid: str) -> ImplementQuestion:
    question = questions.get(qid)
    assert isinstance(question, ImplementQuestion), f"no implement question '{qid}'"
    return question


def test_exactly_the_eleven_drills_exist(questions: Questions) -> None:
    implement = {q.id for q in questions.filter(kinds=["implement"])}
    assert implement == set(IDS)
    assert set(CASE_GENERATORS) == set(IDS)


@pytest.mark.parametrize("qid", IDS)
def test_signature_matches_the_reference_and_the_starter(questions: Questions, qid: str) -> None:
    question = drill(questions, qid)
    params = DRILLS[question.function]
    assert question.signature.startswith(f"{question.function}({params[0]}")
    assert tuple(inspect.signature(reference_function(question)).parameters)[: len(params)] == params
    namespace: dict = {}
    exec(compile(question.starter, "<starter>", "exec"), namespace)
    assert tuple(inspect.signature(namespace[question.function]).parameters) == params


@pytest.mark.parametrize("qid", IDS)
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


@pytest.mark.parametrize("qid", IDS)
def test_cases_start_with_notes_and_vary_with_the_seed(qid: str) -> None:
    first, second = build(qid, 0), build(qid, 1)
    assert all(case.note for case in first.cases)
    assert any(case.note != "random" for case in first.cases)  # edge cases exist
    assert repr(first.cases[-1].args) != repr(second.cases[-1].args)  # random cases follow the seed


def test_feedback_shows_the_first_failing_case(questions: Questions, warm_sandbox: Sandbox) -> None:
    question = drill(questions, "discounted-returns")
    forward = textwrap.dedent(
        """\
        import numpy as np

        def discounted_returns(rewards, gamma):
            out, running = [], 0.0
            for r in rewards:  # forwards: the classic bug
                running = r + gamma * running
                out.append(running)
            return np.array(out)
        """
    )
    grade = grade_implement(question, forward, sandbox=warm_sandbox)
    failure = grade.details["first_failure"]
    assert not grade.correct
    assert failure["note"] == "one reward at the end, discounted back"
    assert failure["inputs"] == {"rewards": "np.array([0, 0, 1])", "gamma": "0.5"}
    assert failure["expected"] == "[0.25, 0.5, 1]" and failure["got"] == "[0, 0, 1]"


def test_a_loss_that_leaves_the_graph_fails_on_its_gradient(questions: Questions, warm_sandbox: Sandbox) -> None:
    question = drill(questions, "ppo-clip-loss")
    detached = reference_solution(question).replace(
        "ratio = (logp - logp_old).exp()", "ratio = (logp - logp_old).exp().detach()"
    )
    assert "detach()" in detached
    grade = grade_implement(question, detached, sandbox=warm_sandbox)
    assert not grade.correct
    assert "no gradient reaches logp" in grade.feedback


def test_syntax_errors_and_missing_functions_are_reported(questions: Questions, warm_sandbox: Sandbox) -> None:
    question = drill(questions, "gae")
    broken = grade_implement(question, "def gae(rewards, values\n", sandbox=warm_sandbox)
    assert not broken.correct and "did not load" in broken.feedback and "SyntaxError" in broken.feedback
    missing = grade_implement(question, "def advantages():\n    pass\n", sandbox=warm_sandbox)
    assert "defines no function named gae" in missing.feedback
    huge = grade_implement(question, "#" * 200_000, sandbox=warm_sandbox)
    assert not huge.correct and "longer than 100000 characters" in huge.feedback


def test_an_integer_answer_must_be_an_integer(questions: Questions, warm_sandbox: Sandbox) -> None:
    question = drill(questions, "ucb-action")
    as_float = (
        reference_solution(question) + "\n_ucb = ucb_action\nucb_action = lambda q, n, t, c: float(_ucb(q, n, t, c))\n"
    )
    grade = grade_implement(question, as_float, sandbox=warm_sandbox)
    assert not grade.correct and "expected an integer" in grade.feedback


def test_cli_check_prints_one_json_object(
    tmp_path: Path, questions: Questions, warm_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.py"
    good.write_text(reference_solution(drill(questions, "epsilon-greedy")))
    bad = tmp_path / "bad.py"
    bad.write_text(drill(questions, "epsilon-greedy").starter)
    for path, passed, code in ((good, True, 0), (bad, False, 1)):
        assert cli(["check", "--question", "epsilon-greedy", "--file", str(path), "--json"]) == code
        out = json.loads(capsys.readouterr().out)
        assert out["passed"] is passed
        assert out["cases_total"] == 8 and (out["cases_passed"] == 8) is passed
        assert out["message"]
        assert ("first_failure" in out) is not passed
    assert cli(["check", "--question", "nope", "--file", str(good), "--json"]) == 2
    assert "no question has id 'nope'" in capsys.readouterr().err
    assert cli(["check", "--question", "markov-property", "--file", str(good)]) == 2


def test_cli_entry_point_runs(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "app.grading", "list", "--kind", "implement"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert sorted(line.split("\t")[0] for line in run.stdout.splitlines()) == sorted(IDS)
