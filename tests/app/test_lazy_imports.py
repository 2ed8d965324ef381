"""Pages import what they need when they need it: no torch or gymnasium for Practice's choice
questions or for the lesson machinery itself (a demo's heavy imports wait until it is drawn)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from streamlit.testing.v1 import AppTest
{body}
heavy = sorted(m for m in ("torch", "gymnasium") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def heavy_modules(body: str, tmp_path: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"RLDOJO_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("HEAVY:")), None)
    assert line is not None, result.stderr[-3000:]
    return [m for m in line[len("HEAVY:") :].split(",") if m]


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
