"""`python -m app.grading check` grades every kind of question, and validate runs the rubric self-checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.content.__main__ import validate
from app.grading import predict
from app.grading.__main__ import main as cli
from app.grading.bank import Questions


def _check(tmp_path: Path, capsys: pytest.CaptureFixture[str], qid: str, answer: str, *extra: str) -> tuple[int, dict]:
    path = tmp_path / "answer.txt"
    path.write_text(answer, encoding="utf-8")
    code = cli(["check", "--question", qid, "--file", str(path), "--json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_explain_reports_hit_missed_and_contradicted(
    tmp_path: Path, questions: Questions, capsys: pytest.CaptureFixture[str]
) -> None:
    q = questions.get("discount-factor")
    code, out = _check(tmp_path, capsys, q.id, q.model_answer)
    assert code == 0 and out["passed"] is True and out["score"] == 1.0
    assert out["hit"] == [p.point for p in q.rubric] and out["missed"] == [] and out["contradicted"] == []
    code, out = _check(tmp_path, capsys, q.id, "Gamma does not keep the return finite.")
    assert code == 1 and out["passed"] is False
    assert out["contradicted"][0]["sentence"] == "Gamma does not keep the return finite."


def test_spot_the_bug_takes_the_fix_and_an_optional_line(
    tmp_path: Path, questions: Questions, capsys: pytest.CaptureFixture[str]
) -> None:
    q = questions.get("ppo-ratio-bug")
    code, out = _check(tmp_path, capsys, q.id, "ratio = torch.exp(logp - logp_old)")
    assert code == 0 and out["passed"] and out["line_ok"] and out["hit"]
    code, out = _check(tmp_path, capsys, q.id, "ratio = torch.exp(logp - logp_old)", "--line", "3")
    assert code == 1 and not out["passed"] and out["line_ok"] is False


def test_choice_order_and_predict_take_json(
    tmp_path: Path, questions: Questions, capsys: pytest.CaptureFixture[str]
) -> None:
    q = questions.get("markov-property")
    assert _check(tmp_path, capsys, q.id, json.dumps(q.answers[0]))[1]["passed"] is True
    code, out = _check(tmp_path, capsys, q.id, json.dumps(q.distractors[0]))
    assert code == 1 and out["score"] == 0.0
    order = questions.get("rlhf-stages")
    assert _check(tmp_path, capsys, order.id, json.dumps(list(order.steps)))[1]["passed"] is True
    assert _check(tmp_path, capsys, order.id, json.dumps(list(reversed(order.steps))))[0] == 1
    p = questions.get("discounted-return-g0")
    expected = predict.instance(p, 0).expected
    code, out = _check(tmp_path, capsys, p.id, json.dumps(float(expected)))
    assert code == 0 and out["passed"] is True


@pytest.mark.parametrize(
    ("qid", "answer", "message"),
    [
        ("markov-property", "not json", "a choice answer is JSON"),
        ("markov-property", "[1, 2]", "a JSON string or a list of strings"),
        ("rlhf-stages", '"one step"', "a JSON list of the steps"),
    ],
)
def test_a_json_answer_that_does_not_fit_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], qid: str, answer: str, message: str
) -> None:
    path = tmp_path / "answer.json"
    path.write_text(answer)
    assert cli(["check", "--question", qid, "--file", str(path), "--json"]) == 2
    assert message in capsys.readouterr().err


def test_validate_reports_a_rubric_that_passes_its_own_salad(tmp_path: Path) -> None:
    bank = tmp_path / "bank.yaml"
    bank.write_text(
        """topic: ppo
title: A loose rubric
questions:
  - id: loose-rubric
    kind: explain
    difficulty: easy
    sources: ["003:14"]
    lessons: []
    prompt: Why clip?
    rubric:
      - point: It clips the ratio
        accept: ["clip*", "the ratio is clipped"]
    model_answer: PPO clips the probability ratio to one plus or minus epsilon, so the policy stays close.
    explanation: Clipping bounds the update.
""",
        encoding="utf-8",
    )
    lines, count = validate([bank])
    assert count == 1
    assert len(lines) == 1 and lines[0].startswith(f"{bank}:10: questions[0].rubric: a salad of the accept phrasings")
