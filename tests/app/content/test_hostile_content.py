"""Issue 11, section 2: any bytes in any lesson or bank file give that file a FILE:LINE message,
and every other lesson, bank and page keeps working.

The attacks are written into temporary lesson and quiz folders beside a good lesson and a good
bank, then loaded through the loaders the pages use (`build_catalogue`, `load_questions`, the
validator CLI); a generated corpus (hypothesis over bytes and over mutations of a real file)
does the same for inputs nobody thought of.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.content.loader import QUIZZES_DIR, build_catalogue, yaml_files
from app.content.yaml_source import MAX_FILE_BYTES, YamlSyntaxError, load_file, load_yaml
from app.grading.bank import load_questions

ROOT = Path(__file__).resolve().parents[3]

GOOD_LESSON = """\
id: good
title: A good lesson
summary: One line.
track: Foundations
level: beginner
minutes: 5
sections:
  - title: First
    blocks:
      - markdown: Hello $x$.
      - code: algorithms.returns:discounted_returns#backward-recursion
      - quiz: [good-question]
"""

GOOD_BANK = """\
topic: foundations
title: A good bank
questions:
  - id: good-question
    kind: choice
    difficulty: easy
    prompt: Which is right?
    sources: ['003:1']
    explanation: Because.
    answer: this one
    distractors: [that one]
"""

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)

ATTACKS: dict[str, bytes] = {
    "nul": b"id: x\ntitle: A\x00B\n",
    "vertical-tab": b"id: x\ntitle: A\x0bB\n",
    "escape-nul": b'id: x\ntitle: "A\\0B"\n',
    "5000-digit-int": b"id: x\nminutes: " + b"9" * 5000 + b"\n",
    "20000-brackets": b"id: x\nsections: " + b"[" * 20_000 + b"\n",
    "20000-braces": b"id: x\nsections: " + b"{a: " * 20_000 + b"\n",
    "deep-block": b"".join(b"  " * i + b"k:\n" for i in range(300)),
    "billion-laughs": BILLION_LAUGHS.encode(),
    "alias-cycle": b"id: x\nsections: &s [*s]\n",
    "bad-date": b"id: x\nminutes: 2024-02-30\n",
    "not-utf8": b"id: x\ntitle: \xff\xfe\n",
    "binary": bytes(range(256)) * 4,
    "unhashable-key": b"? [a, b]\n: c\n",
    "top-level-list": b"- 1\n- 2\n",
    "empty": b"",
    "tags": b"id: !!python/object:os.system x\n",
    "huge-file": b"id: x\n" + b"# padding\n" * (MAX_FILE_BYTES // 10 + 1),
}


def _folders(root: Path) -> tuple[Path, Path]:
    lessons, quizzes = root / "lessons", root / "quizzes"
    lessons.mkdir()
    quizzes.mkdir()
    (lessons / "good.yaml").write_text(GOOD_LESSON)
    (quizzes / "good.yaml").write_text(GOOD_BANK)
    for good in (lessons / "good.yaml", quizzes / "good.yaml"):
        # Published before any broken file: a mutant that reuses its ids is the newer file.
        stat = good.stat()
        os.utime(good, ns=(stat.st_atime_ns, stat.st_mtime_ns - 3600 * 10**9))
    return lessons, quizzes


def _check_contained(lessons: Path, quizzes: Path, broken: list[Path]) -> None:
    """The broken files each get FILE:LINE problems; the good lesson and bank are untouched."""
    catalogue = build_catalogue(yaml_files([lessons]), yaml_files([quizzes]))
    assert catalogue.lessons["good"].ok, [str(p) for p in catalogue.lessons["good"].problems]
    good_files = {lessons / "good.yaml", quizzes / "good.yaml"}
    for problem in catalogue.problems:
        assert problem.file not in good_files, str(problem)
        assert problem.line >= 1 and problem.message
        assert str(problem).startswith(f"{problem.file}:{problem.line}: {problem.field}: "), str(problem)
    questions = load_questions(quizzes)
    assert questions.get("good-question") is not None
    for path in broken:
        entries = [e for e in catalogue.lessons.values() if e.path == path]
        entries += [b for b in catalogue.quiz_banks if b.path == path]
        assert entries, path


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_attack_is_one_files_problem(tmp_path: Path, name: str) -> None:
    lessons, quizzes = _folders(tmp_path)
    (lessons / "broken.yaml").write_bytes(ATTACKS[name])
    (quizzes / "broken.yaml").write_bytes(ATTACKS[name])
    started = time.perf_counter()
    _check_contained(lessons, quizzes, [lessons / "broken.yaml", quizzes / "broken.yaml"])
    assert time.perf_counter() - started < 20
    catalogue = build_catalogue(yaml_files([lessons]), yaml_files([quizzes]))
    if name not in ("empty", "top-level-list"):
        assert [p for p in catalogue.problems if p.file == lessons / "broken.yaml"]
        assert [p for p in catalogue.problems if p.file == quizzes / "broken.yaml"]


@pytest.mark.parametrize(
    ("name", "line", "words"),
    [
        ("nul", 2, "character '\\x00'"),
        ("vertical-tab", 2, "character '\\x0b'"),
        ("escape-nul", 2, "control character U+0000"),
        ("5000-digit-int", 2, "an integer of 5000 digits"),
        ("20000-brackets", 2, "nested more than"),
        ("deep-block", 40, "nested more than"),
        ("billion-laughs", 6, "alias bomb"),
        ("alias-cycle", 2, "alias *s is used inside the value it names"),
        ("bad-date", 2, "'2024-02-30' is not a date"),
        ("not-utf8", 2, "not UTF-8 text: byte 0xff"),
        ("huge-file", 1, f"the limit is {MAX_FILE_BYTES}"),
        ("tags", 1, "could not determine a constructor"),
    ],
)
def test_the_message_names_the_line_and_the_cause(tmp_path: Path, name: str, line: int, words: str) -> None:
    lessons, quizzes = _folders(tmp_path)
    (lessons / "broken.yaml").write_bytes(ATTACKS[name])
    catalogue = build_catalogue(yaml_files([lessons]), yaml_files([quizzes]))
    problems = [p for p in catalogue.problems if p.file.name == "broken.yaml"]
    assert [p.line for p in problems if words in p.message] == [line], [str(p) for p in problems]


def test_an_alias_bomb_costs_little_time_and_memory() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(YamlSyntaxError, match="alias bomb"):
        load_yaml(BILLION_LAUGHS)
    assert time.perf_counter() - started < 2.0
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 200_000  # the unbounded loader needed 3 GB


def test_aliases_within_the_bound_still_work() -> None:
    data, source = load_yaml("base: &b {x: 1}\none: *b\ntwo: *b\n")
    assert data == {"base": {"x": 1}, "one": {"x": 1}, "two": {"x": 1}}
    assert source.line_of(("two",)) == 3 and source.line_of(("two", "x")) == 1  # where x is written


def test_a_symlink_out_of_the_folder_is_refused_unread(tmp_path: Path) -> None:
    lessons, quizzes = _folders(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:SECRET-HASH:19000:0:99999:7:::\n")
    (lessons / "shadow.yaml").symlink_to(secret)
    (quizzes / "shadow.yaml").symlink_to(secret)
    (lessons / "etc.yaml").symlink_to("/etc/passwd")
    catalogue = build_catalogue(yaml_files([lessons]), yaml_files([quizzes]))
    problems = [p for p in catalogue.problems if p.file.name in ("shadow.yaml", "etc.yaml")]
    assert len(problems) == 3
    for problem in problems:
        assert "outside" in problem.message and "SECRET" not in problem.message and "root:" not in problem.message
    assert catalogue.lessons["good"].ok
    assert set(load_questions(quizzes).by_id) == {"good-question"}
    # A link inside the folder is fine.
    (lessons / "alias.yaml").symlink_to(lessons / "good.yaml")
    with pytest.raises(YamlSyntaxError, match="outside"):
        load_file(lessons / "shadow.yaml", lessons)
    assert load_file(lessons / "alias.yaml", lessons)[0]["id"] == "good"


def test_the_validator_cli_reports_every_attack_and_exits_1(tmp_path: Path) -> None:
    lessons, quizzes = _folders(tmp_path)
    for name in ("nul", "5000-digit-int", "20000-brackets", "billion-laughs"):
        (lessons / f"{name}.yaml").write_bytes(ATTACKS[name])
    run = subprocess.run(
        [sys.executable, "-m", "app.content", "validate", str(lessons)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RLDOJO_LESSONS_DIR": str(lessons), "RLDOJO_QUIZZES_DIR": str(quizzes)},
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    reported = {Path(line.split(":")[0]).name for line in run.stdout.splitlines()}
    assert reported >= {"nul.yaml", "5000-digit-int.yaml", "20000-brackets.yaml", "billion-laughs.yaml"}


# ---------------------------------------------------------------------------------------------
# The generated corpus
# ---------------------------------------------------------------------------------------------

_SPECIAL = st.sampled_from(
    [b"\x00", b"\x0b", b"\xff", b"&a ", b"*a", b"[" * 64, b"{", b"'", b'"\\', b": ", b"- ", b"\n  ", b"9" * 200]
)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """A real file with bytes inserted, replaced or cut at random places."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "replace", "cut"]))
        chunk = draw(st.one_of(_SPECIAL, st.binary(min_size=1, max_size=8)))
        if action == "insert":
            data[at:at] = chunk
        elif action == "replace":
            data[at : at + len(chunk)] = chunk
        else:
            del data[at : at + draw(st.integers(1, 40))]
    return bytes(data)


CORPUS = st.one_of(
    st.binary(max_size=400),
    mutated(GOOD_LESSON.encode()),
    mutated(GOOD_BANK.encode()),
    mutated((QUIZZES_DIR / "foundations.yaml").read_bytes()[:3000]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lesson_bytes=CORPUS, bank_bytes=CORPUS)
def test_generated_broken_files_never_take_down_the_others(lesson_bytes: bytes, bank_bytes: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        lessons, quizzes = _folders(Path(folder))
        (lessons / "fuzz.yaml").write_bytes(lesson_bytes)
        (quizzes / "fuzz.yaml").write_bytes(bank_bytes)
        _check_contained(lessons, quizzes, [lessons / "fuzz.yaml", quizzes / "fuzz.yaml"])


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
def test_the_yaml_reader_raises_only_its_own_error(text: str) -> None:
    try:
        load_yaml(text)
    except YamlSyntaxError as exc:
        assert exc.line >= 1 and exc.message


# ---------------------------------------------------------------------------------------------
# The pages, with a broken lesson and a broken bank present
# ---------------------------------------------------------------------------------------------


def test_home_a_lesson_and_practice_render_beside_broken_files(tmp_path: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    lessons, quizzes = tmp_path / "lessons", tmp_path / "quizzes"
    shutil.copytree(ROOT / "lessons", lessons)
    shutil.copytree(QUIZZES_DIR, quizzes)
    (lessons / "broken.yaml").write_bytes(ATTACKS["20000-brackets"])
    (lessons / "bomb.yaml").write_bytes(ATTACKS["billion-laughs"])
    (lessons / "nul.yaml").write_bytes(ATTACKS["nul"])
    (quizzes / "broken.yaml").write_bytes(ATTACKS["5000-digit-int"])
    (quizzes / "vt.yaml").write_bytes(ATTACKS["vertical-tab"])
    monkeypatch.setenv("RLDOJO_LESSONS_DIR", str(lessons))
    monkeypatch.setenv("RLDOJO_QUIZZES_DIR", str(quizzes))
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path / "data"))
    main = str(ROOT / "app" / "main.py")

    home = AppTest.from_file(main, default_timeout=90).run()
    assert not home.exception, home.exception
    assert "Needs fixing" in [s.value for s in home.subheader]

    lesson = AppTest.from_file(main, default_timeout=90)
    lesson.switch_page("views/lesson.py")
    lesson.query_params["lesson"] = "returns-and-discounting"
    lesson.query_params["section"] = "all"  # the whole lesson, its quiz against the hostile banks included
    lesson.run()
    assert not lesson.exception, lesson.exception
    assert lesson.title[0].value == "What an agent actually maximises" or lesson.title

    broken = AppTest.from_file(main, default_timeout=90)
    broken.switch_page("views/lesson.py")
    broken.query_params["lesson"] = "broken"
    broken.run()
    assert not broken.exception, broken.exception
    shown = "\n".join(str(e.value) for e in [*broken.error, *broken.markdown])
    assert "nested more than" in shown

    practice = AppTest.from_file(main, default_timeout=90)
    practice.switch_page("views/practice.py")
    practice.query_params["q"] = "discounted-return-g0"
    practice.run()
    assert not practice.exception, practice.exception


def test_the_page_of_a_linked_lesson_shows_the_refusal_not_the_file(tmp_path: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    lessons, quizzes = _folders(tmp_path)
    secret = tmp_path / "shadow"
    secret.write_text("id: x\nroot:SECRET-HASH:19000:0:99999:7:::\n")
    (lessons / "shadow.yaml").symlink_to(secret)
    monkeypatch.setenv("RLDOJO_LESSONS_DIR", str(lessons))
    monkeypatch.setenv("RLDOJO_QUIZZES_DIR", str(quizzes))
    page = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=90)
    page.switch_page("views/lesson.py")
    page.query_params["lesson"] = "shadow"
    page.run()
    assert not page.exception, page.exception
    shown = "\n".join(str(e.value) for e in [*page.error, *page.markdown, *page.code])
    assert "outside" in shown and "SECRET" not in shown


def test_a_valid_copy_reusing_every_id_is_contained(tmp_path: Path) -> None:
    lessons, quizzes = _folders(tmp_path)
    (lessons / "copy.yaml").write_text(GOOD_LESSON)
    (quizzes / "copy.yaml").write_text(GOOD_BANK.replace("this one", "the impostor"))
    _check_contained(lessons, quizzes, [lessons / "copy.yaml", quizzes / "copy.yaml"])
    assert load_questions(quizzes).get("good-question").answer == "this one"
