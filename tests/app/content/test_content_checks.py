"""Issue 11, section 2: duplicate ids across files, and what used to validate and then fail on a
page or in grading. Each case is written as a file and loaded the way the app loads it."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from app.content.loader import build_catalogue, yaml_files
from app.grading.bank import load_questions
from tests.app.content.test_hostile_content import GOOD_BANK, GOOD_LESSON


def folders(tmp_path: Path) -> tuple[Path, Path]:
    lessons, quizzes = tmp_path / "lessons", tmp_path / "quizzes"
    lessons.mkdir()
    quizzes.mkdir()
    (lessons / "good.yaml").write_text(GOOD_LESSON)
    (quizzes / "good.yaml").write_text(GOOD_BANK)
    return lessons, quizzes


def older(path: Path, seconds: int = 3600) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 10**9))


def problems(lessons: Path, quizzes: Path, name: str | None = None) -> list[str]:
    catalogue = build_catalogue(yaml_files([lessons]), yaml_files([quizzes]))
    return [
        f"{p.file.relative_to(lessons.parent)}:{p.line}: {p.field}: {p.message}"
        for p in catalogue.problems
        if name is None or p.file.name == name
    ]


# ---------------------------------------------------------------------------------------------
# Duplicate ids
# ---------------------------------------------------------------------------------------------


def test_a_reused_lesson_id_is_an_error_on_the_new_file_and_the_old_lesson_is_served(tmp_path: Path) -> None:
    lessons, quizzes = folders(tmp_path)
    older(lessons / "good.yaml")
    (lessons / "drafts").mkdir()
    (lessons / "drafts" / "good.yaml").write_text(GOOD_LESSON.replace("A good lesson", "The new one"))
    catalogue = build_catalogue(yaml_files([lessons]), yaml_files([quizzes]))
    (line,) = problems(lessons, quizzes)
    assert line.startswith("lessons/drafts/good.yaml:1: id: lesson id 'good' is already used by ")
    assert f"{lessons / 'good.yaml'}:1" in line
    served = catalogue.lessons["good"]
    assert served.ok and served.path == lessons / "good.yaml" and served.lesson.title == "A good lesson"
    assert not catalogue.lessons["good@" + str(lessons / "drafts" / "good.yaml")].ok


def test_a_reused_question_id_never_takes_over_the_original(tmp_path: Path) -> None:
    lessons, quizzes = folders(tmp_path)
    older(quizzes / "good.yaml")
    # Sorts before good.yaml by name, so by name alone it would win.
    (quizzes / "a-new-bank.yaml").write_text(GOOD_BANK.replace("this one", "the impostor"))
    (line,) = problems(lessons, quizzes)
    assert line.startswith("quizzes/a-new-bank.yaml:4: id: question id 'good-question' is already used at ")
    assert f"{quizzes / 'good.yaml'}:4" in line
    served = load_questions(quizzes).get("good-question")
    assert served is not None and served.answer == "this one"


def test_the_repository_question_keeps_its_key_against_a_newer_bank(tmp_path: Path) -> None:
    import shutil

    from app.content.loader import QUIZZES_DIR

    quizzes = tmp_path / "quizzes"
    shutil.copytree(QUIZZES_DIR, quizzes)
    for path in quizzes.glob("*.yaml"):
        older(path)
    text = (QUIZZES_DIR / "foundations.yaml").read_text()
    start = text.index("  - id: discounted-return-g0")
    end = text.index("  - id:", start + 10)
    question = text[start:end].replace("gamma: {choice: [0.5, 0.9]}", "gamma: {value: 0.0}")
    (quizzes / "aaa.yaml").write_text(f"topic: foundations\ntitle: Impostor\nquestions:\n{question}")
    served = load_questions(quizzes).get("discounted-return-g0")
    assert served is not None and "0.5" in str(served.params["gamma"])


# ---------------------------------------------------------------------------------------------
# What validated and then failed
# ---------------------------------------------------------------------------------------------


def lesson_with(block: str, **fields: str) -> str:
    text = GOOD_LESSON
    for key, value in fields.items():
        text = text.replace(f"{key}: ", f"{key}: {value}  # was: ", 1) if f"{key}: " in text else text
    return text + textwrap.indent(textwrap.dedent(block), "      ")


def test_a_live_run_preset_is_checked_against_the_config(tmp_path: Path) -> None:
    lessons, quizzes = folders(tmp_path)
    (lessons / "good.yaml").write_text(
        lesson_with("- demo: live-run\n  params: {algorithm: ppo, preset: {lr: fast, total_timesteps: -5}}\n")
    )
    (line,) = problems(lessons, quizzes)
    assert "lessons/good.yaml:14: sections[0].blocks[3].params:" in line
    assert "preset lr: 'fast' is not a float" in line and "total_timesteps: -5 must not be negative" in line


def test_a_good_live_run_preset_passes(tmp_path: Path) -> None:
    lessons, quizzes = folders(tmp_path)
    (lessons / "good.yaml").write_text(
        lesson_with("- demo: live-run\n  params: {algorithm: ppo, preset: {lr: 0.001, hidden_sizes: [32, 32]}}\n")
    )
    assert problems(lessons, quizzes) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("minutes", "true", "Input should be a valid integer"),
        ("minutes", '"5"', "Input should be a valid integer"),
        ("level", "1", "Input should be 'beginner'"),
        ("title", "'A \\beta'", None),
    ],
)
def test_strict_types(tmp_path: Path, field: str, value: str, message: str | None) -> None:
    lessons, quizzes = folders(tmp_path)
    (lessons / "good.yaml").write_text(lesson_with("", **{field: value}))
    found = problems(lessons, quizzes)
    if message is None:
        assert found == []  # single quotes keep the backslash
    else:
        (line,) = found
        assert f": {field}: {message}" in line


def test_a_zero_preset_is_allowed_where_zero_means_something(tmp_path: Path) -> None:
    # `gae_lambda: 0` (one-step TD advantages) is a classic setting; the "must be positive" rule refused it
    lessons, quizzes = folders(tmp_path)
    (lessons / "good.yaml").write_text(
        lesson_with("- demo: live-run\n  params: {algorithm: ppo, preset: {gae_lambda: 0.0, total_timesteps: 2048}}\n")
    )
    assert problems(lessons, quizzes) == []


def test_latex_eaten_by_a_double_quoted_escape_is_flagged(tmp_path: Path) -> None:
    lessons, quizzes = folders(tmp_path)
    (lessons / "good.yaml").write_text(lesson_with('- math: "\\nabla J = \\beta \\tau"\n'))
    (line,) = problems(lessons, quizzes)
    assert "lessons/good.yaml:13: sections[0].blocks[3].math:" in line
    assert "single quotes" in line and "block scalar" in line


def test_a_line_that_starts_with_an_english_word_is_not_taken_for_eaten_latex(tmp_path: Path) -> None:
    # "ablation" at the start of a line once read as "\\nabla" eaten by a double-quoted escape
    lessons, quizzes = folders(tmp_path)
    text = "- markdown: |\n    RLOO is a good\n    ablation, and a negation\n    neglects nothing.\n"
    (lessons / "good.yaml").write_text(lesson_with(text))
    assert problems(lessons, quizzes) == []


BANK_HEAD = "topic: foundations\ntitle: Checks\nquestions:\n"


def bank(tmp_path: Path, question: str) -> tuple[Path, Path]:
    lessons, quizzes = folders(tmp_path)
    (quizzes / "checks.yaml").write_text(BANK_HEAD + textwrap.indent(textwrap.dedent(question), "  "))
    return lessons, quizzes


PREDICT = """\
- id: predict-check
  kind: predict
  difficulty: easy
  sources: ['003:35']
  prompt: Rewards {{{{rewards}}}}, gamma {{{{gamma}}}}. What is G_0?
  params:
    rewards: {{integers: [0, 3], size: {size}}}
    gamma: {{choice: [0.5, 0.9]}}
  answer_from:
    call: algorithms.returns:discounted_returns
    args: {args}
    {extra}
  explanation: Sum the discounted rewards.
"""


def test_a_predict_question_with_wrong_argument_names_is_refused(tmp_path: Path) -> None:
    lessons, quizzes = bank(
        tmp_path, PREDICT.format(size=3, args="{reward: {array: $rewards}, gamma: $gamma}", extra="")
    )
    (line,) = problems(lessons, quizzes, "checks.yaml")
    assert "quizzes/checks.yaml:14: questions[0].answer_from.args:" in line
    assert "algorithms.returns:discounted_returns(rewards, gamma) is called with these args" in line
    assert "'reward' is not among its parameters; the required 'rewards' is not given" in line
    assert load_questions(quizzes).get("predict-check") is None


def test_a_predict_index_out_of_range_is_refused(tmp_path: Path) -> None:
    lessons, quizzes = bank(
        tmp_path, PREDICT.format(size=3, args="{rewards: {array: $rewards}, gamma: $gamma}", extra="index: 7")
    )
    (line,) = problems(lessons, quizzes, "checks.yaml")
    assert "quizzes/checks.yaml:15: questions[0].answer_from.index: computing the answer key failed" in line
    assert "IndexError" in line and "out of bounds" in line
    assert load_questions(quizzes).get("predict-check") is None


def test_a_good_predict_question_passes(tmp_path: Path) -> None:
    lessons, quizzes = bank(
        tmp_path, PREDICT.format(size=3, args="{rewards: {array: $rewards}, gamma: $gamma}", extra="index: 0")
    )
    assert problems(lessons, quizzes, "checks.yaml") == []
    assert load_questions(quizzes).get("predict-check") is not None


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("100000000", "Input should be less than or equal to 20"),
        ("[20, 20, 20]", "a shape of 8000 numbers; at most 400"),
        ("true", "Input should be a valid integer"),
    ],
)
def test_a_predict_size_is_bounded(tmp_path: Path, size: str, message: str) -> None:
    lessons, quizzes = bank(
        tmp_path, PREDICT.format(size=size, args="{rewards: {array: $rewards}, gamma: $gamma}", extra="")
    )
    found = problems(lessons, quizzes, "checks.yaml")
    assert any(message in line and "params.rewards" in line for line in found), found


IMPLEMENT = """\
- id: gae
  kind: implement
  difficulty: hard
  sources: ['001:gae']
  prompt: Write GAE.
  function: gae
  signature: {signature}
  reference: {reference}
  starter: |
    def gae({params}):
        raise NotImplementedError
  cases:
    returns: array
    dims: {{T: {{choice: [3, 5]}}}}
    args:
      rewards: {{kind: array, shape: [T], uniform: [-1, 1]}}
      values: {{kind: array, shape: [T + 1], uniform: [-1, 1]}}
      dones: {{kind: array, shape: [T], bernoulli: 0.2, dtype: float64}}
      gamma: {{kind: float, value: 0.9}}
      lam: {{kind: float, value: 0.95}}
    edge:
      - note: one step
        args: {{rewards: [1.0], values: [0.5, 2.0], dones: [0.0]}}
  explanation: Backwards.
"""


def test_an_implement_reference_with_another_signature_is_refused(tmp_path: Path) -> None:
    question = IMPLEMENT.format(
        signature="gae(rewards, values, dones, gamma, lam)",
        reference="algorithms.returns:discounted_returns",
        params="rewards, values, dones, gamma, lam",
    )
    lessons, quizzes = bank(tmp_path, question)
    (line,) = problems(lessons, quizzes, "checks.yaml")
    assert "quizzes/checks.yaml:11: questions[0].reference:" in line
    assert "algorithms.returns:discounted_returns(rewards, gamma) does not fit the cases" in line
    assert "'values', 'dones', 'lam' are not among its parameters" in line
    assert load_questions(quizzes).get("gae") is None


def test_an_implement_starter_that_disagrees_with_the_signature_is_refused(tmp_path: Path) -> None:
    question = IMPLEMENT.format(
        signature="gae(rewards, values, dones, gamma, lam)",
        reference="algorithms.returns:gae",
        params="rewards, values, gamma",
    )
    lessons, quizzes = bank(tmp_path, question)
    found = problems(lessons, quizzes, "checks.yaml")
    assert len(found) == 2, found
    assert "questions[0].signature: the signature's parameters (rewards, values, dones, gamma, lam)" in found[0]
    assert "differ from the starter's (rewards, values, gamma)" in found[0]
    assert "questions[0].starter: the starter's gae(rewards, values, gamma) does not fit the cases" in found[1]
    assert "'dones', 'lam' are not among its parameters" in found[1]


def test_a_correct_implement_question_passes(tmp_path: Path) -> None:
    question = IMPLEMENT.format(
        signature="gae(rewards, values, dones, gamma, lam)",
        reference="algorithms.returns:gae",
        params="rewards, values, dones, gamma, lam",
    )
    lessons, quizzes = bank(tmp_path, question)
    assert problems(lessons, quizzes, "checks.yaml") == []
