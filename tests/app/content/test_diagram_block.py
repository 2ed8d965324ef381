"""The `diagram` lesson block: Graphviz DOT source, validated like every block and drawn by st.graphviz_chart."""

from __future__ import annotations

import textwrap
from pathlib import Path

from streamlit.testing.v1 import AppTest

from app.content.loader import build_catalogue
from app.content.models import DiagramBlock
from app.settings import ROOT

LESSON = """\
id: {id}
title: A lesson with a diagram
summary: One line.
track: RLHF
level: beginner
minutes: 5
sections:
  - title: The picture
    blocks:
      - markdown: Three stages.
      - diagram: |
          digraph {{
            rankdir=LR
            sft [label="SFT"]; rm [label="reward model"]; ppo [label="PPO"]
            sft -> rm -> ppo
          }}
        caption: SFT, then a reward model, then PPO.{extra}
"""


def write_lesson(folder: Path, lesson_id: str = "diagram-lesson", extra: str = "") -> Path:
    path = folder / f"{lesson_id}.yaml"
    path.write_text(textwrap.dedent(LESSON.format(id=lesson_id, extra=extra)), encoding="utf-8")
    return path


def problems_of(folder: Path) -> list[str]:
    catalogue = build_catalogue(sorted(folder.glob("*.yaml")), [])
    return [f"{p.file.name}:{p.line}: {p.field}: {p.message}" for p in catalogue.problems]


def test_a_valid_diagram_block_loads(tmp_path: Path) -> None:
    write_lesson(tmp_path)
    assert problems_of(tmp_path) == []
    catalogue = build_catalogue([tmp_path / "diagram-lesson.yaml"], [])
    block = catalogue.lessons["diagram-lesson"].lesson.sections[0].blocks[1]
    assert isinstance(block, DiagramBlock)
    assert block.diagram.lstrip().startswith("digraph {") and "sft -> rm -> ppo" in block.diagram
    assert block.caption == "SFT, then a reward model, then PPO."


def test_an_unknown_key_in_a_diagram_block_names_file_and_line(tmp_path: Path) -> None:
    write_lesson(tmp_path, "extra-key", extra="\n        engine: neato")
    (line,) = problems_of(tmp_path)
    assert line == "extra-key.yaml:18: sections[0].blocks[1].engine: unknown key 'engine'"


def test_text_that_is_not_dot_is_rejected_at_its_line(tmp_path: Path) -> None:
    path = write_lesson(tmp_path, "not-dot")
    path.write_text(path.read_text().replace("digraph {", "flowchart LR {"))
    (line,) = problems_of(tmp_path)
    assert line.startswith("not-dot.yaml:11: sections[0].blocks[1].diagram: a diagram is Graphviz DOT source")


def test_a_lesson_with_a_diagram_renders(tmp_path: Path, monkeypatch) -> None:
    write_lesson(tmp_path)
    monkeypatch.setenv("RLDOJO_LESSONS_DIR", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60)
    at.switch_page("views/lesson.py")
    at.query_params["lesson"] = "diagram-lesson"
    at.run()
    assert not at.exception, at.exception
    (chart,) = at.get("graphviz_chart")
    assert "sft -> rm -> ppo" in chart.proto.spec
    assert "SFT, then a reward model, then PPO." in [c.value for c in at.caption]
