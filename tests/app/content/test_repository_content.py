"""Every lesson in lessons/ validates, every code reference resolves, every region name is unique."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.content.coderef import regions_in, resolve
from app.content.loader import LESSONS_DIR, load_catalogue, yaml_files
from app.content.models import CodeBlock
from app.settings import ROOT

LESSON_FILES = yaml_files([LESSONS_DIR])


def test_there_are_lessons() -> None:
    assert LESSON_FILES, "lessons/ has no YAML files"


def test_every_lesson_validates() -> None:
    catalogue = load_catalogue(full=True)  # every check, as `python -m app.content validate`
    assert [str(p) for p in catalogue.problems] == []
    assert len(catalogue.lessons) == len(LESSON_FILES)


def test_every_code_reference_resolves() -> None:
    catalogue = load_catalogue()
    references = [
        block.code
        for entry in catalogue.lessons.values()
        for section in entry.lesson.sections
        for block in section.blocks
        if isinstance(block, CodeBlock)
    ]
    assert references, "no lesson shows code"
    for reference in references:
        assert resolve(reference).lines


@pytest.mark.parametrize("path", sorted((ROOT / "algorithms").rglob("*.py")), ids=lambda p: p.name)
def test_every_region_occurs_once(path: Path) -> None:
    repeated = {name: lines for name, lines in regions_in(path).items() if len(lines) > 1}
    assert repeated == {}, f"{path}: region names must be unique in a file"
    text = path.read_text()
    for name in regions_in(path):
        assert text.count(f"# lesson:end {name}\n") == 1, f"{path}: region '{name}' needs exactly one end marker"
