"""Pages import what they need when they need it: no torch or gymnasium for Practice's choice
questions or for the lesson machinery itself (a demo's heavy imports wait until it is drawn)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fresh_process import printed
from tests.lesson_sections import section_with

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from streamlit.testing.v1 import AppTest
{body}
heavy = sorted(m for m in ("torch", "gymnasium") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def heavy_modules(body: str, tmp_path: Path) -> list[str]:
    return [m for m in printed(PROBE.format(body=body), "HEAVY:", tmp_path).split(",") if m]


def test_the_lesson_widgets_import_no_torch(tmp_path: Path) -> None:
    assert heavy_modules("import app.widgets.blocks, app.widgets.quiz, app.widgets.catalogue", tmp_path) == []


def test_a_practice_choice_question_imports_no_torch(tmp_path: Path) -> None:
    body = (
        "at = AppTest.from_file('app/main.py', default_timeout=120)\n"
        "at.switch_page('views/practice.py')\n"
        "at.query_params['q'] = 'markov-property'\n"
        "at.run()\n"
        "assert not at.exception, at.exception\n"
        "at.radio[0].set_value(at.radio[0].options[0])\n"
        "next(b for b in at.button if b.label == 'Check').click().run()\n"
        "assert at.success or at.error\n"
    )
    assert heavy_modules(body, tmp_path) == []


def test_the_runs_page_lists_runs_without_torch_until_the_start_form_opens(tmp_path: Path) -> None:
    # The start form imports the algorithm's module (PPO: torch, 2 s): drawn only once it is opened.
    body = (
        "at = AppTest.from_file('app/main.py', default_timeout=120)\n"
        "at.switch_page('views/runs.py')\n"
        "at.run()\n"
        "assert not at.exception, at.exception\n"
        "assert [e.label for e in at.expander] == ['Start a new run'] and not at.selectbox\n"
    )
    assert heavy_modules(body, tmp_path) == []
    opened = body + "at.session_state['start-open'] = True\nat.run()\nassert at.selectbox(key='start-algorithm')\n"
    assert "torch" in heavy_modules(opened, tmp_path)  # the probe sees the form's imports


def test_checks_that_need_torch_wait_for_validate_on_pages_only() -> None:
    from app.content import bank_checks

    assert bank_checks.imports_heavy("algorithms.losses")  # imports torch at module level
    assert not bank_checks.imports_heavy("algorithms.returns")  # numpy only
    token = bank_checks.CHECK_TORCH_DRILLS.set(True)
    try:  # `python -m app.content validate` runs every reference, torch ones included
        assert not bank_checks._heavy_check_deferred("algorithms.losses:grpo_advantages", needs_torch=True)
    finally:
        bank_checks.CHECK_TORCH_DRILLS.reset(token)


def test_validate_in_a_fresh_process_still_runs_torch_references(tmp_path: Path) -> None:
    """The page-side deferral must not leak into validate: a broken torch predict is still caught."""
    lessons, quizzes = tmp_path / "lessons", tmp_path / "quizzes"
    lessons.mkdir()
    quizzes.mkdir()
    (quizzes / "torchy.yaml").write_text(
        "topic: rlhf\ntitle: Torchy\nquestions:\n"
        "  - id: torchy-predict\n    kind: predict\n    difficulty: easy\n    sources: ['004:dpo']\n"
        "    prompt: What is it?\n    params: {b: {choice: [1]}}\n"
        "    answer_from:\n      call: algorithms.losses:grpo_advantages\n      args: {rewards: {tensor: [1.0, 2.0]}}\n"
        "    explanation: x\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "app.content", "validate", str(quizzes)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    # a (G,) vector, not (B, G): only running the reference finds it
    assert "torchy.yaml" in result.stdout and "computing the answer key failed" in result.stdout, result.stdout


def test_drill_progress_and_class_run_no_bank_reference_code(tmp_path: Path) -> None:
    """Listing questions needs their schema, not every predict and implement question's reference run
    (the algorithms modules those import): the question on screen is checked alone when shown."""
    body = (
        "for page in ('views/drill.py', 'views/progress.py', 'views/class_page.py'):\n"
        "    at = AppTest.from_file('app/main.py', default_timeout=120)\n"
        "    at.switch_page(page)\n"
        "    at.run()\n"
        "    assert not at.exception, at.exception\n"
        "ran = sorted(m for m in ('algorithms.returns', 'algorithms.mdp', 'algorithms.bandits') if m in sys.modules)\n"
        "assert not ran, ran\n"
    )
    assert heavy_modules(body, tmp_path) == []


def test_home_on_a_new_server_imports_no_database_or_bank_schema(tmp_path: Path) -> None:
    """Nothing stored yet: Home has no progress to read, so no SQLAlchemy; and the quick catalogue
    reads no question bank, so not the banks' schema or checks."""
    body = (
        "at = AppTest.from_file('app/main.py', default_timeout=120)\n"
        "at.run()\n"
        "assert not at.exception, at.exception\n"
        "assert at.title[0].value == 'RL Dojo'\n"
        "loaded = sorted(m for m in ('sqlalchemy', 'app.learners.store', 'app.content.quiz_models',\n"
        "    'app.content.bank_checks') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    assert heavy_modules(body, tmp_path) == []


def test_a_lesson_on_a_new_server_imports_no_database_until_marked_done(tmp_path: Path) -> None:
    """Nothing stored yet: a lesson's first render reads no progress (no SQLAlchemy) and its charts'
    tables need no pandas; pressing
    "Mark lesson done" imports the store, records the event, and the lesson then says so."""
    body = (
        "at = AppTest.from_file('app/main.py', default_timeout=120)\n"
        "at.switch_page('views/lesson.py')\n"
        "at.query_params['lesson'] = 'returns-and-discounting'\n"
        "at.query_params['section'] = 'all'\n"
        "at.run()\n"
        "assert not at.exception, at.exception\n"
        "assert at.get('plotly_chart'), 'the lesson draws its returns chart'\n"
        "loaded = sorted(m for m in ('sqlalchemy', 'app.learners.store', 'pandas') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
        "next(b for b in at.button if b.label == 'Mark lesson done').click().run()\n"
        "assert not at.exception, at.exception\n"
        "assert 'sqlalchemy' in sys.modules\n"
        "assert any('You marked this lesson done' in c.value for c in at.caption), [c.value for c in at.caption]\n"
    )
    assert heavy_modules(body, tmp_path) == []


def test_a_lesson_draws_its_run_form_without_the_run_store(tmp_path: Path) -> None:
    """td-learning's live-run block draws its start form with no database or pandas import; the
    store opens on Start, where a setting that makes runs unusable is still said in one line."""
    body = (
        "import os\n"
        "os.environ['RLDOJO_MAX_RUNS'] = 'abc'\n"
        "at = AppTest.from_file('app/main.py', default_timeout=120)\n"
        "at.switch_page('views/lesson.py')\n"
        "at.query_params['lesson'] = 'td-learning'\n"
        f"at.query_params['section'] = '{section_with('td-learning', demo='live-run')}'\n"
        "at.run()\n"
        "assert not at.exception, at.exception\n"
        "start = [b for b in at.button if b.label == 'Start run']\n"
        "assert start, [b.label for b in at.button]\n"
        "loaded = sorted(m for m in ('sqlalchemy', 'app.runs.store', 'pandas') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
        "print('HEAVY:' + ','.join(m for m in ('torch',) if m in sys.modules))  # the form's own imports\n"
        "start[0].click().run()  # checking the environment on Start may import gymnasium\n"
        "assert not at.exception, at.exception\n"
        "errors = [e.value for e in at.error]\n"
        "assert any('Runs are not available: RLDOJO_MAX_RUNS must be a whole number' in e for e in errors), errors\n"
        "assert 'run' not in at.query_params\n"
    )
    assert heavy_modules(body, tmp_path) == []
