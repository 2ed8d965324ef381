"""Broken lesson files produce the right FILE:LINE: field: message, and never take the others down."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.content.loader import build_catalogue, load_catalogue
from app.settings import ROOT

GOOD = """\
id: {id}
title: A good lesson
summary: One line.
track: Foundations
level: beginner
minutes: 5
prerequisites: {prereqs}
sections:
  - title: First
    blocks:
      - markdown: Hello $x$.
      - code: algorithms.returns:discounted_returns#backward-recursion
      - demo: returns-explorer
        params: {{gamma: 0.5}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def good(folder: Path, lesson_id: str = "good", prereqs: str = "[]") -> Path:
    return write(folder, f"{lesson_id}.yaml", GOOD.format(id=lesson_id, prereqs=prereqs))


def problems_of(folder: Path, quiz_files: list[Path] | None = None) -> list[str]:
    catalogue = build_catalogue(sorted(folder.glob("*.yaml")), quiz_files or [])
    return [f"{p.file.name}:{p.line}: {p.field}: {p.message}" for p in catalogue.problems]


def test_a_good_lesson_has_no_problem(tmp_path: Path) -> None:
    good(tmp_path)
    assert problems_of(tmp_path) == []


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    good(tmp_path)
    write(tmp_path, "broken.yaml", "id: broken\ntitle: Broken\nsummary: x\nsections:\n  - title: Oops: here\n")
    (line,) = problems_of(tmp_path)
    assert line.startswith("broken.yaml:5: (yaml): mapping values are not allowed here")
    assert "must be quoted" in line


def test_wrong_type_names_line_and_field(tmp_path: Path) -> None:
    path = good(tmp_path, "typed")
    path.write_text(path.read_text().replace("minutes: 5", "minutes: soon"))
    (line,) = problems_of(tmp_path)
    assert line.startswith("typed.yaml:6: minutes: Input should be a valid integer")
    assert "'soon'" in line


def test_unknown_key_is_rejected_with_the_allowed_ones(tmp_path: Path) -> None:
    path = good(tmp_path, "extra")
    path.write_text(path.read_text().replace("level: beginner", "level: beginner\ndifficulty: 3"))
    (line,) = problems_of(tmp_path)
    assert line.startswith("extra.yaml:6: difficulty: unknown key 'difficulty'; a lesson has: id, title")


def test_unknown_key_inside_a_block(tmp_path: Path) -> None:
    path = good(tmp_path, "blockextra")
    path.write_text(
        path.read_text().replace("      - markdown: Hello $x$.", "      - markdown: Hello\n        colour: red")
    )
    (line,) = problems_of(tmp_path)
    assert line == "blockextra.yaml:12: sections[0].blocks[0].colour: unknown key 'colour'"


def test_block_with_no_kind_or_two_kinds(tmp_path: Path) -> None:
    path = good(tmp_path, "kinds")
    text = path.read_text().replace("      - markdown: Hello $x$.", "      - markdown: Hello\n        math: x^2")
    path.write_text(text)
    (line,) = problems_of(tmp_path)
    assert line.startswith("kinds.yaml:11: sections[0].blocks[0]: a block is a mapping with exactly one of the keys")


def test_missing_required_field(tmp_path: Path) -> None:
    path = good(tmp_path, "missing")
    path.write_text(path.read_text().replace("title: A good lesson\n", ""))
    (line,) = problems_of(tmp_path)
    assert line == "missing.yaml:1: title: required field is missing"


def test_missing_prerequisite(tmp_path: Path) -> None:
    good(tmp_path, "first")
    good(tmp_path, "second", prereqs="[first, nowhere]")
    assert problems_of(tmp_path) == ["second.yaml:7: prerequisites[1]: no lesson has id 'nowhere'"]


def test_prerequisite_cycle(tmp_path: Path) -> None:
    good(tmp_path, "a", prereqs="[b]")
    good(tmp_path, "b", prereqs="[a]")
    lines = problems_of(tmp_path)
    assert len(lines) == 1 and "prerequisites form a cycle" in lines[0]


def test_duplicate_id_is_an_error_on_the_newer_file(tmp_path: Path) -> None:
    original = good(tmp_path, "same")
    stat = original.stat()
    os.utime(original, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**12))  # published long before the copy
    write(tmp_path, "copy.yaml", GOOD.format(id="same", prereqs="[]"))
    good(tmp_path, "other")
    lines = problems_of(tmp_path)
    assert sorted(lines) == [
        "copy.yaml:1: id: lesson id 'same' is already used by "
        + str(tmp_path / "same.yaml")
        + ":1; that file keeps it and this one is not shown until it has an id of its own",
        "copy.yaml:1: id: the id 'same' differs from the file name 'copy.yaml': rename the file to 'same.yaml' "
        "or set id: copy",
    ]
    catalogue = build_catalogue(sorted(tmp_path.glob("*.yaml")), [])
    assert catalogue.lessons["other"].ok
    assert catalogue.lessons["same"].ok and catalogue.lessons["same"].path == original


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("algorithms.nowhere:f", "module 'algorithms.nowhere' not found"),
        ("algorithms.returns:nothing_here", "'nothing_here' is not defined in algorithms.returns"),
        ("algorithms.returns:discounted_returns#no-such-region", "region 'no-such-region' not found"),
        ("os:path", "outside 'algorithms/'"),
        ("not a reference", "is not a code reference"),
    ],
)
def test_code_reference_that_does_not_resolve(tmp_path: Path, reference: str, message: str) -> None:
    path = good(tmp_path, "coderef")
    path.write_text(path.read_text().replace("algorithms.returns:discounted_returns#backward-recursion", reference))
    (line,) = problems_of(tmp_path)
    assert line.startswith("coderef.yaml:12: sections[0].blocks[1].code: ")
    assert message in line


def test_unknown_demo_and_bad_demo_params(tmp_path: Path) -> None:
    path = good(tmp_path, "demo")
    path.write_text(path.read_text().replace("returns-explorer", "no-such-demo"))
    (line,) = problems_of(tmp_path)
    assert line.startswith("demo.yaml:13: sections[0].blocks[2].demo: unknown demo 'no-such-demo'; known demos:")

    path.write_text(GOOD.format(id="demo", prereqs="[]").replace("{gamma: 0.5}", "{gamma: 1.5, colour: red}"))
    lines = problems_of(tmp_path)
    assert any(x.startswith("demo.yaml:14: sections[0].blocks[2].params.gamma: Input should be less") for x in lines)
    assert any("params.colour: unknown parameter; 'returns-explorer' takes: rewards, gamma" in x for x in lines)


def test_quiz_ids_are_checked_once_question_banks_exist(tmp_path: Path) -> None:
    path = good(tmp_path, "quizzed")
    path.write_text(path.read_text() + "      - quiz: [known-question, unknown-question]\n")
    assert problems_of(tmp_path) == []  # no question banks yet: any id is accepted
    bank = write(
        tmp_path.parent,
        "bank.yaml",
        """\
        topic: foundations
        title: A bank
        questions:
          - id: known-question
            kind: choice
            difficulty: easy
            sources: ["003:1"]
            prompt: Which is a reward?
            answer: a number judging one step
            distractors: [a policy, a state]
            explanation: The reward judges one step.
        """,
    )
    assert problems_of(tmp_path, [bank]) == [
        "quizzed.yaml:15: sections[0].blocks[3].quiz[1]: no question has id 'unknown-question' in quizzes/"
    ]


def test_empty_file_and_non_mapping(tmp_path: Path) -> None:
    write(tmp_path, "empty.yaml", "")
    write(tmp_path, "list.yaml", "- a\n- b\n")
    assert problems_of(tmp_path) == [
        "empty.yaml:1: (lesson): expected a mapping with id, title, sections..., got an empty file",
        "list.yaml:1: (lesson): expected a mapping with id, title, sections..., got a list",
    ]


def test_duplicate_yaml_key_is_an_error_not_a_silent_overwrite(tmp_path: Path) -> None:
    path = good(tmp_path, "dupkey")
    path.write_text(path.read_text().replace("level: beginner", "level: beginner\nlevel: advanced"))
    (line,) = problems_of(tmp_path)
    assert line == "dupkey.yaml:6: (yaml): duplicate key 'level' (first on line 5)"


def test_broken_file_does_not_break_the_others(tmp_path: Path) -> None:
    good(tmp_path, "fine")
    write(tmp_path, "zzz.yaml", "id: zzz\n  : : :\n")
    catalogue = build_catalogue(sorted(tmp_path.glob("*.yaml")), [])
    assert catalogue.lessons["fine"].ok
    assert not catalogue.lessons["zzz"].ok and catalogue.lessons["zzz"].problems


def test_editing_a_file_shows_without_restart(tmp_path: Path) -> None:
    path = good(tmp_path, "live")
    quizzes = tmp_path / "no-quizzes"
    first = load_catalogue(tmp_path, quizzes)
    assert first.lessons["live"].lesson.title == "A good lesson"
    assert load_catalogue(tmp_path, quizzes) is first  # unchanged files: cached
    path.write_text(path.read_text().replace("A good lesson", "An edited lesson"))
    second = load_catalogue(tmp_path, quizzes)
    assert second.lessons["live"].lesson.title == "An edited lesson"


def run_validate(*paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.content", "validate", *paths], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_cli_exit_status_and_format(tmp_path: Path) -> None:
    ok = good(tmp_path, "clean")
    result = run_validate(str(ok))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""

    bad = good(tmp_path, "dirty")
    bad.write_text(bad.read_text().replace("minutes: 5", "minutes: -1"))
    result = run_validate(str(tmp_path))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad}:6: minutes: Input should be greater than or equal to 1 (got -1)",
    ]

    result = run_validate(str(tmp_path / "nope.yaml"))
    assert result.returncode == 1 and "no such file or folder" in result.stdout


def test_cli_checks_the_repository_by_default() -> None:
    result = run_validate()
    assert result.returncode == 0, result.stdout + result.stderr


def test_live_run_demo_checks_algorithm_and_fields(tmp_path: Path) -> None:
    path = good(tmp_path, "liverun")
    text = path.read_text().replace(
        "      - demo: returns-explorer\n        params: {gamma: 0.5}",
        "      - demo: live-run\n        params: {algorithm: tabular, preset: {colour: red}}\n"
        "      - demo: live-run\n        params: {algorithm: nope}",
    )
    path.write_text(text)
    problems = problems_of(tmp_path)
    assert problems[1].startswith("liverun.yaml:16: sections[0].blocks[3].params: unknown algorithm 'nope'; known: ")
    assert "reinforce" in problems[1] and "tabular" in problems[1]
    assert problems[:1] == [
        "liverun.yaml:14: sections[0].blocks[2].params: TabularConfig has no field colour; it has: env, algo, "
        "episodes, runs, alpha, gamma, epsilon, epsilon_end, epsilon_schedule, epsilon_decay_episodes, seed, "
        "max_episode_steps, env_kwargs",
    ]
