"""Issue 19: an instructor adds a lesson and a bank with every kind of question, a coding drill
included, from YAML alone; and the validator says what slipped through before.

The measured authoring test writes a complete lesson (every block kind) and a bank (one question of
each kind) into temporary folders through RLDOJO_LESSONS_DIR / RLDOJO_QUIZZES_DIR, validates them
with the CLI, renders them with AppTest, and grades a right and a wrong answer to each question.
"""

from __future__ import annotations

import shutil
import textwrap
import time
from pathlib import Path

import pytest

from app.content.__main__ import main as content_cli
from app.content.loader import QUIZZES_DIR, build_catalogue, yaml_files
from app.content.quiz_models import KINDS
from app.grading import predict
from app.grading.bank import load_questions
from app.grading.graders import grade
from tests.app.content.test_hostile_content import GOOD_BANK, GOOD_LESSON

ROOT = Path(__file__).resolve().parents[3]

LESSON = r"""
id: dyna-q
title: Dyna-Q, planning with a learned model
summary: Learn a model from real steps and replay imagined ones.
track: Value-based
level: intermediate
minutes: 25
order: 70
prerequisites: []
tags: [planning, model-based]
sections:
  - title: The idea
    blocks:
      - markdown: |
          Dyna-Q mixes real steps with *imagined* ones: $Q(s, a) \leftarrow Q(s, a) + \alpha \delta$.
      - math: '\delta = r + \gamma \max_{a^\prime} Q(s^\prime, a^\prime) - Q(s, a)'
      - code: algorithms.returns:discounted_returns#backward-recursion
        caption: The returns the agent maximises.
      - callout: Planning steps reuse the model; they cost no environment steps.
        kind: tip
      - diagram: 'digraph { rankdir=LR; real -> model -> planning -> Q; real -> Q }'
        caption: Where the updates come from.
      - demo: returns-explorer
        params: {gamma: 0.9}
      - interview: Why does Dyna-Q learn faster per real step?
        answer: Each real step also trains a model, and the model gives many extra updates.
      - quiz: [dyna-choice, dyna-order, dyna-predict, dyna-explain, dyna-bug, returns-to-go]
"""

BANK = r"""
topic: td-learning
title: Dyna-Q
questions:
  - id: dyna-choice
    kind: choice
    difficulty: easy
    sources: ["003:6"]
    lessons: [dyna-q]
    prompt: What does Dyna-Q add to Q-learning?
    answer: Updates from a learned model of the environment
    distractors: [A replay buffer of whole episodes, A policy network]
    explanation: Planning steps sample remembered transitions from the model.

  - id: dyna-order
    kind: order
    difficulty: easy
    sources: ["003:6"]
    prompt: Order one Dyna-Q iteration.
    steps:
      - Act in the environment
      - Update Q from the real step
      - Update the model
      - Replay n imagined steps
    explanation: Real step first, then the model, then planning.

  - id: dyna-predict
    kind: predict
    difficulty: easy
    sources: ["003:35"]
    prompt: 'Rewards {{rewards}}, $\gamma = {{gamma}}$. What is $G_0$?'
    params:
      rewards: {integers: [0, 3], size: 3}
      gamma: {choice: [0.5, 0.9]}
    answer_from:
      call: algorithms.returns:discounted_returns
      args: {rewards: {array: $rewards}, gamma: $gamma}
      index: 0
    explanation: Discount each reward once per step.

  - id: dyna-explain
    kind: explain
    difficulty: medium
    sources: ["003:6"]
    prompt: Why can planning steps speed up learning?
    rubric:
      - point: the model is reused
        accept: [model, simulat*]
      - point: real steps are costly
        accept: [real + cost*, expensive, sample effic*]
    model_answer: The learned model is reused for many simulated updates, and real steps are expensive.
    explanation: Sample efficiency.

  - id: dyna-bug
    kind: spot-the-bug
    difficulty: medium
    sources: ["003:6"]
    prompt: Which line is wrong?
    snippet: |
      def q_update(Q, s, a, r, s_next, alpha, gamma):
          target = r + gamma * Q[s_next].min()
          Q[s, a] += alpha * (target - Q[s, a])
    bug_line: 2
    fix:
      - point: the target takes the max
        accept: [max*]
    model_fix: '`target = r + gamma * Q[s_next].max()`'
    explanation: Q-learning bootstraps from the greedy action.

  - id: returns-to-go
    kind: implement
    difficulty: easy
    sources: ["003:35"]
    prompt: Write `returns_to_go(rewards, gamma)`, the return from every step.
    function: returns_to_go
    signature: "returns_to_go(rewards, gamma)"
    reference: algorithms.returns:discounted_returns
    starter: |
      import numpy as np


      def returns_to_go(rewards, gamma):
          return np.zeros(len(rewards))
    cases:
      returns: array
      dims:
        T: {integers: [3, 8]}
      args:
        rewards: {kind: array, shape: [T], uniform: [-1, 1]}
        gamma: {kind: float, choice: [0.5, 0.9]}
      edge:
        - note: a single step
          args: {rewards: [2.0], gamma: 0.9}
        - note: "gamma = 0: each return is its reward"
          args: {rewards: [1.0, 2.0], gamma: 0.0}
      random: 3
    explanation: One backward pass.
"""

RIGHT_DRILL = """\
import numpy as np


def returns_to_go(rewards, gamma):
    out, running = np.zeros(len(rewards)), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out
"""


def test_an_instructor_adds_a_lesson_and_a_bank_of_every_kind_from_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streamlit.testing.v1 import AppTest

    started = time.perf_counter()
    lessons, quizzes = tmp_path / "lessons", tmp_path / "quizzes"
    lessons.mkdir()
    quizzes.mkdir()
    (lessons / "dyna-q.yaml").write_text(LESSON.lstrip())
    (quizzes / "dyna.yaml").write_text(BANK.lstrip())
    monkeypatch.setenv("RLDOJO_LESSONS_DIR", str(lessons))
    monkeypatch.setenv("RLDOJO_QUIZZES_DIR", str(quizzes))
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path / "data"))

    assert content_cli(["validate", str(lessons), str(quizzes)]) == 0, capsys.readouterr().out
    assert "2 files valid" in capsys.readouterr().err

    questions = load_questions(quizzes)
    assert sorted(q.kind for q in questions.by_id.values()) == sorted(KINDS)
    for q in questions.by_id.values():
        right, wrong = _answers(q)
        assert grade(q, right, seed=3, sandbox=None).correct, q.id
        assert not grade(q, wrong, seed=3, sandbox=None).correct, q.id

    main = str(ROOT / "app" / "main.py")
    lesson = AppTest.from_file(main, default_timeout=120)
    lesson.switch_page("views/lesson.py")
    lesson.query_params["lesson"] = "dyna-q"
    lesson.run()
    assert not lesson.exception, lesson.exception
    assert lesson.title[0].value == "Dyna-Q, planning with a learned model"
    assert not lesson.error, [e.value for e in lesson.error]
    for qid in questions.by_id:
        page = AppTest.from_file(main, default_timeout=120)
        page.switch_page("views/practice.py")
        page.query_params["q"] = qid
        page.run()
        assert not page.exception, (qid, page.exception)
        assert not page.error, (qid, [e.value for e in page.error])
    print(f"authoring test: {time.perf_counter() - started:.1f} s")


def _answers(q):
    if q.kind == "choice":
        return q.answer, q.distractors[0]
    if q.kind == "order":
        return list(q.steps), list(reversed(q.steps))
    if q.kind == "predict":
        return predict.format_answer(predict.instance(q, 3).expected), "999"
    if q.kind == "explain":
        return q.model_answer, "I do not know."
    if q.kind == "spot-the-bug":
        fix = "The target should take the max over the next state's actions."
        return {"line": q.bug_line, "fix": fix}, {"line": 1, "fix": fix}
    return RIGHT_DRILL, q.starter


# ---------------------------------------------------------------------------------------------
# Skeletons
# ---------------------------------------------------------------------------------------------


def test_new_lesson_and_new_bank_write_skeletons_that_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lessons, quizzes = tmp_path / "lessons", tmp_path / "quizzes"
    shutil.copytree(ROOT / "lessons", lessons)
    quizzes.mkdir()
    for path in QUIZZES_DIR.glob("*.yaml"):
        if path.name != "systems.yaml":
            shutil.copy(path, quizzes / path.name)
    assert (quizzes / "ppo.yaml").exists()
    monkeypatch.setenv("RLDOJO_LESSONS_DIR", str(lessons))
    monkeypatch.setenv("RLDOJO_QUIZZES_DIR", str(quizzes))

    assert content_cli(["new", "lesson", "dyna-q", "--track", "Value-based"]) == 0, capsys.readouterr()
    text = (lessons / "dyna-q.yaml").read_text()
    catalogue = build_catalogue(yaml_files([lessons]), yaml_files([quizzes]))
    others = [
        e.lesson.order
        for e in catalogue.lessons.values()
        if e.lesson and e.lesson.track == "Value-based" and e.id != "dyna-q"
    ]
    assert catalogue.lessons["dyna-q"].ok, [str(p) for p in catalogue.lessons["dyna-q"].problems]
    assert catalogue.lessons["dyna-q"].lesson.order == (max(others) // 10 + 1) * 10
    assert "#   algorithms.returns:discounted_returns#backward-recursion" in text

    assert content_cli(["new", "bank", "systems"]) == 0, capsys.readouterr()
    assert load_questions(quizzes).get("systems-new-choice") is not None
    capsys.readouterr()
    # every topic has a bank already: a second bank of a topic takes its own file name
    assert content_cli(["new", "bank", "ppo"]) == 2
    assert "new bank ppo --file NAME" in capsys.readouterr().err
    assert content_cli(["new", "bank", "ppo", "--file", "ppo-extras"]) == 0, capsys.readouterr()
    extras = load_questions(quizzes)
    assert extras.get("ppo-extras-new-choice") is not None and extras.get("ppo-new-choice") is None
    assert content_cli(["new", "bank", "ppo", "--file", "Not A Name"]) == 2
    capsys.readouterr()
    assert content_cli(["new", "lesson", "dyna-q"]) == 2
    assert "exists" in capsys.readouterr().err
    assert content_cli(["new", "lesson", "Not An Id"]) == 2
    assert content_cli(["new", "bank", "nope"]) == 2
    assert "topics: foundations" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# What the validator now catches, each with FILE:LINE and a fix
# ---------------------------------------------------------------------------------------------


def _problems(tmp_path: Path, lesson: str | None = None, bank: str | None = None, name: str = "good") -> list[str]:
    lessons, quizzes = tmp_path / "lessons", tmp_path / "quizzes"
    lessons.mkdir(exist_ok=True)
    quizzes.mkdir(exist_ok=True)
    (lessons / f"{name}.yaml").write_text(lesson or GOOD_LESSON)
    (quizzes / "good.yaml").write_text(bank or GOOD_BANK)
    catalogue = build_catalogue(yaml_files([lessons]), yaml_files([quizzes]))
    return [f"{p.file.name}:{p.line}: {p.field}: {p.message}" for p in catalogue.problems]


def test_a_diagram_that_does_not_parse_is_an_error(tmp_path: Path) -> None:
    lesson = GOOD_LESSON + "      - diagram: |\n          digraph {\n            a -> \n          }\n"
    (line,) = _problems(tmp_path, lesson)
    assert line.startswith("good.yaml:13: sections[0].blocks[3].diagram: the DOT does not parse at line 2")
    assert "'a ->'" in line


def test_a_mistyped_region_lists_the_regions_that_exist(tmp_path: Path) -> None:
    lesson = GOOD_LESSON.replace("#backward-recursion", "#backwards")
    (line,) = _problems(tmp_path, lesson)
    assert line.startswith("good.yaml:11: sections[0].blocks[1].code: region 'backwards' not found")
    assert "regions in algorithms.returns:discounted_returns: backward-recursion" in line


def test_a_lesson_id_that_differs_from_its_file_name(tmp_path: Path) -> None:
    (line,) = _problems(tmp_path, name="other-name")
    assert line == (
        "other-name.yaml:1: id: the id 'good' differs from the file name 'other-name.yaml': "
        "rename the file to 'good.yaml' or set id: other-name"
    )


def test_a_prime_in_a_single_quoted_string_names_the_quote(tmp_path: Path) -> None:
    lesson = GOOD_LESSON.replace("summary: One line.", "summary: 'the agent's policy'")
    (line,) = _problems(tmp_path, lesson)
    assert line.startswith("good.yaml:3: (yaml):")
    assert "the quote in '...the agent's...' at column 20 ends the single-quoted string early" in line
    assert "write it twice ('')" in line


@pytest.mark.parametrize(
    ("latex", "escape"),
    [("\\beta", "\\b (as in \\beta"), ("\\tau", "\\t (as in \\tau"), ("\\frac{1}{2}", "\\f (as in \\frac")],
)
def test_latex_in_double_quotes_is_flagged_with_the_fix(tmp_path: Path, latex: str, escape: str) -> None:
    lesson = GOOD_LESSON.replace("- markdown: Hello $x$.", f'- markdown: "Hello ${latex}$."')
    (line,) = _problems(tmp_path, lesson)
    assert line.startswith("good.yaml:10: sections[0].blocks[0].markdown: control character")
    assert escape in line and "single quotes" in line


def test_a_drill_whose_cases_name_an_unknown_dimension(tmp_path: Path) -> None:
    bank = GOOD_BANK + BANK[BANK.index("  - id: returns-to-go") :].replace("shape: [T]", "shape: [N]")
    found = _problems(tmp_path, bank=bank)
    assert any("cases.args.rewards.shape[0]: 'N' names no dimension; dims: T" in line for line in found), found


# ---------------------------------------------------------------------------------------------
# The guides' examples are valid content
# ---------------------------------------------------------------------------------------------


def _yaml_examples(guide: Path) -> list[str]:
    text = guide.read_text()
    return [block.split("```", 1)[0] for block in text.split("```yaml\n")[1:]]


def test_every_question_example_in_the_guide_validates(tmp_path: Path) -> None:
    examples = [e for e in _yaml_examples(ROOT / "quizzes" / "README.md") if e.startswith("- id:")]
    assert len(examples) == 6  # one per kind
    body = "".join(textwrap.indent(e, "  ") for e in examples)
    quizzes = tmp_path / "quizzes"
    quizzes.mkdir()
    (quizzes / "guide.yaml").write_text(f"topic: foundations\ntitle: Guide\nquestions:\n{body}")
    catalogue = build_catalogue([], yaml_files([quizzes]))
    assert [str(p) for p in catalogue.problems] == []
    assert sorted(q.kind for q in load_questions(quizzes).by_id.values()) == sorted(KINDS)


def test_the_templates_in_the_guides_validate(tmp_path: Path) -> None:
    lessons, quizzes = tmp_path / "lessons", tmp_path / "quizzes"
    lessons.mkdir()
    quizzes.mkdir()
    (lesson,) = [e for e in _yaml_examples(ROOT / "lessons" / "README.md") if e.startswith("id: my-lesson")]
    (bank,) = [e for e in _yaml_examples(ROOT / "quizzes" / "README.md") if e.startswith("topic:")]
    (lessons / "my-lesson.yaml").write_text(lesson)
    (quizzes / "bank.yaml").write_text(bank)
    catalogue = build_catalogue(
        [*yaml_files([lessons]), ROOT / "lessons" / "returns-and-discounting.yaml"], yaml_files([quizzes])
    )  # the template names returns-and-discounting as a prerequisite
    assert [str(p) for p in catalogue.problems if p.file.parent in (lessons, quizzes)] == []
    assert catalogue.lessons["my-lesson"].ok


def test_a_region_of_another_function_in_the_file_is_named(tmp_path: Path) -> None:
    lesson = GOOD_LESSON.replace("#backward-recursion", "#td-error")
    (line,) = _problems(tmp_path, lesson)
    assert "regions in algorithms.returns:discounted_returns: backward-recursion" in line
    assert "elsewhere in algorithms/returns.py: td-error" in line


def test_the_lesson_guide_lists_every_demo_with_its_parameters_and_ranges() -> None:
    from annotated_types import Ge, Gt, Le, Lt

    from app.content.demos import DEMOS

    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in (ROOT / "lessons" / "README.md").read_text().splitlines()
        if line.startswith("| `")
    }
    for name, spec in DEMOS.items():
        assert name in rows, f"lessons/README.md has no row for the demo '{name}'"
        row = rows[name]
        fields = list(spec.params.model_fields)
        for i, field in enumerate(fields):
            assert f"`{field}`" in row, f"the row of '{name}' does not list its parameter '{field}'"
            start = row.index(f"`{field}`")
            ends = [row.index(f"`{f}`", start + 1) for f in fields[i + 1 :] if f"`{f}`" in row[start + 1 :]]
            text = row[start : min(ends, default=len(row))]
            bounds = [
                getattr(m, attr)
                for m in spec.params.model_fields[field].metadata
                if isinstance(m, Ge | Gt | Le | Lt)
                for attr in ("ge", "gt", "le", "lt")
                if hasattr(m, attr)
            ]
            for bound in bounds:
                assert f"{bound:g}" in text, f"the row of '{name}' does not give {field}'s bound {bound:g}: {text}"


FLOAT_DRILL = """\
  - id: episode-return
    kind: implement
    difficulty: easy
    sources: ["003:35"]
    prompt: Write `episode_return(rewards, gamma)`, the return $G_0$ of a whole episode.
    function: episode_return
    signature: "episode_return(rewards, gamma) -> float"
    reference: algorithms.returns:discounted_return
    starter: |
      def episode_return(rewards, gamma):
          return 0.0
    cases:
      returns: {returns}
      dims: {{T: {{integers: [2, 6]}}}}
      args:
        rewards: {{kind: array, shape: [T], uniform: [-1, 1]}}
        gamma: {{kind: float, choice: [0.5, 0.9]}}
      edge:
        - note: a single reward
          args: {{rewards: [2.0], gamma: 0.9}}
    explanation: Weight each reward by gamma once per step.
"""


def test_a_drill_whose_reference_returns_one_number(tmp_path: Path) -> None:
    wrong = _problems(tmp_path, bank=GOOD_BANK + FLOAT_DRILL.format(returns="array"))
    assert len(wrong) == 1, wrong
    assert wrong[0].startswith("good.yaml:24: questions[1].cases.returns: the reference returns a float")
    assert "write returns: float" in wrong[0]

    assert _problems(tmp_path, bank=GOOD_BANK + FLOAT_DRILL.format(returns="float")) == []
    question = load_questions(tmp_path / "quizzes").get("episode-return")
    right = "def episode_return(rewards, gamma):\n    return float(sum(r * gamma**k for k, r in enumerate(rewards)))\n"
    assert grade(question, right, seed=1, sandbox=None).correct
    assert not grade(question, question.starter, seed=1, sandbox=None).correct
    as_array = "import numpy as np\n\ndef episode_return(rewards, gamma):\n    return np.array([0.0])\n"
    graded = grade(question, as_array, seed=1, sandbox=None)
    assert not graded.correct and "expected a float (one number), got a numpy array" in graded.feedback


def test_the_issue_s_latex_in_a_math_block_and_in_a_prompt_is_flagged(tmp_path: Path) -> None:
    lesson = GOOD_LESSON.replace("- markdown: Hello $x$.", '- math: "\\nabla \\beta \\tau"')
    (line,) = _problems(tmp_path, lesson)
    assert line.startswith("good.yaml:10: sections[0].blocks[0].math: control character U+0008")
    assert "\\b (as in \\beta" in line and "single quotes ('...') or a block scalar (|)" in line

    bank = GOOD_BANK.replace("prompt: Which is right?", 'prompt: "Which $\\tau$ is right?"')
    (tmp_path / "bank").mkdir()
    (line,) = _problems(tmp_path / "bank", bank=bank)
    assert line.startswith("good.yaml:7: questions[0].prompt: control character U+0009")
    assert "\\t (as in \\tau" in line and "single quotes" in line


def test_the_bank_skeleton_has_every_kind_and_each_grades_right_and_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.grading.solutions import reference_solution

    quizzes = tmp_path / "quizzes"
    monkeypatch.setenv("RLDOJO_QUIZZES_DIR", str(quizzes))
    assert content_cli(["new", "bank", "foundations", "--file", "mine"]) == 0, capsys.readouterr()
    questions = load_questions(quizzes)
    assert sorted(q.kind for q in questions.by_id.values()) == sorted(KINDS)
    for q in questions.by_id.values():
        if q.kind == "implement":
            assert q.id == "mine-new-returns" and q.function == "mine_new_returns"
            right, wrong = reference_solution(q), q.starter
        elif q.kind == "spot-the-bug":
            right, wrong = {"line": q.bug_line, "fix": q.model_fix}, {"line": 1, "fix": q.model_fix}
        else:
            right, wrong = _answers(q)
        assert grade(q, right, seed=3, sandbox=None).correct, q.id
        assert not grade(q, wrong, seed=3, sandbox=None).correct, q.id
