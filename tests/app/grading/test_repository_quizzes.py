"""The banks in quizzes/: all valid, ids unique, every kind present, keys computable, coverage complete."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.content.loader import QUIZZES_DIR, load_catalogue, yaml_files
from app.content.quiz_models import KINDS, SOURCES, Topic, parse_source
from app.grading import coverage, predict
from app.grading.bank import Questions, load_questions

ROOT = Path(__file__).resolve().parents[3]


def test_every_bank_validates_and_none_is_skipped() -> None:
    catalogue = load_catalogue(full=True)  # a page's quick catalogue reads no bank
    assert [str(p) for p in catalogue.problems if p.file.resolve().is_relative_to(QUIZZES_DIR)] == []
    assert load_questions().skipped == []


def test_one_bank_per_topic_and_ids_unique_across_banks() -> None:
    questions = load_questions()
    assert {bank.topic for bank in questions.banks.values()} == set(Topic)
    ids = [q.id for bank in questions.banks.values() for q in bank.questions]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert len(yaml_files([QUIZZES_DIR])) == len(questions.banks)


def test_every_kind_is_present(questions: Questions) -> None:
    counts = {kind: len(questions.filter(kinds=[kind])) for kind in KINDS}
    assert all(counts.values()), counts
    assert counts["implement"] >= 1  # the drills themselves are checked by test_implement_drills.py


def test_every_question_names_existing_lessons(questions: Questions) -> None:
    lesson_ids = set(load_catalogue().lessons)
    for q in questions.by_id.values():
        assert set(q.lessons) <= lesson_ids, (q.id, q.lessons)


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_every_predict_key_is_computed_and_finite(questions: Questions, seed: int) -> None:
    for q in questions.filter(kinds=["predict"]):
        inst = predict.instance(q, seed)
        assert predict.is_finite(inst.expected), q.id
        assert "{{" not in inst.prompt, q.id
        typed = predict.format_answer(inst.expected)
        assert predict.close_enough(
            predict.parse_answer(typed, inst.answer_kind), inst.expected, inst.answer_kind, q.tolerance
        ), (
            q.id,
            typed,
        )


def test_no_number_is_stored_as_an_answer(questions: Questions) -> None:
    for q in questions.filter(kinds=["predict"]):
        assert q.answer_from.call.startswith("algorithms."), q.id
        assert not math.isnan(q.tolerance)
    for q in questions.filter(kinds=["choice"]):
        for answer in q.answers:
            assert not _is_number(answer), (q.id, "a computable number belongs in a predict question")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_coverage_file_is_up_to_date_and_complete() -> None:
    assert coverage.check() == []
    text = (QUIZZES_DIR / "COVERAGE.md").read_text()
    assert "Every syllabus item is covered." in text
    assert text.count("| ") > 59
    for n in range(1, 60):
        assert f"| {n}. " in text


def test_all_59_interview_questions_of_seed_003_are_covered(questions: Questions) -> None:
    covered = {int(parse_source(s)[1]) for q in questions.by_id.values() for s in q.sources if s.startswith("003:")}
    assert covered == set(range(1, 60))
    assert len(SOURCES["003"]) == 59


def test_coverage_check_fails_when_stale(tmp_path: Path) -> None:
    for path in yaml_files([QUIZZES_DIR]):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "COVERAGE.md").write_text("stale\n")
    assert coverage.check(tmp_path)[0].startswith("COVERAGE.md is stale")
    coverage.write(tmp_path)
    assert coverage.check(tmp_path) == []
    (tmp_path / "systems.yaml").unlink()
    assert any(p.endswith("covered: 003:24") for p in coverage.check(tmp_path))


def test_coverage_cli_check_passes() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "app.grading", "coverage", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "app" / "grading").glob("*.py")), ids=lambda p: p.name)
def test_grading_never_imports_streamlit(path: Path) -> None:
    tree = ast.parse(path.read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "streamlit" not in names


def test_prompts_do_not_leak_unrendered_parameters(questions: Questions) -> None:
    for q in questions.by_id.values():
        if q.kind != "predict":
            assert "{{" not in q.prompt, q.id
    assert np.isfinite(1.0)
