"""Load every lesson and question bank, and say exactly what is wrong with the broken ones.

Loading never raises for a bad file: each problem becomes a `Problem` (file, line, field,
message) attached to that file's entry, so the app can show it in place of the lesson while
every other lesson keeps working.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.content.coderef import CodeRefError, resolve
from app.content.demos import DEMOS
from app.content.filecache import cached
from app.content.models import BLOCK_KINDS, TRACK_ORDER, CodeBlock, DemoBlock, Lesson, QuizBlock
from app.content.types import QUICK
from app.content.yaml_source import SourceMap, YamlSyntaxError, load_file_cached, read_text
from app.settings import ROOT

LESSONS_DIR = ROOT / "lessons"
QUIZZES_DIR = ROOT / "quizzes"
# Instructors can preview another folder (and tests use their own): RLDOJO_LESSONS_DIR, RLDOJO_QUIZZES_DIR.
LESSONS_ENV, QUIZZES_ENV = "RLDOJO_LESSONS_DIR", "RLDOJO_QUIZZES_DIR"
ALGORITHMS_DIR = ROOT / "algorithms"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Problem:
    file: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{_display_path(self.file)}:{self.line}: {self.field}: {self.message}"


@dataclass
class LessonEntry:
    """One lesson file: the lesson when it is valid, its problems otherwise."""

    id: str
    path: Path
    lesson: Lesson | None
    source: SourceMap = field(default_factory=SourceMap)
    problems: list[Problem] = field(default_factory=list)
    root: Path | None = None  # the folder it was found in (links out of it are refused)

    @property
    def ok(self) -> bool:
        return self.lesson is not None and not self.problems

    @property
    def title(self) -> str:
        return self.lesson.title if self.lesson else self.id

    def source_text(self) -> str:
        """The file's text for excerpts beside its problems; '' when the reader refuses it (a link
        out of its folder, too large, not UTF-8), so a refused file's content is never shown."""
        try:
            return read_text(self.path, self.root or self.path.parent)
        except YamlSyntaxError:
            return ""


@dataclass
class QuizBankEntry:
    path: Path
    question_ids: list[str]
    problems: list[Problem] = field(default_factory=list)
    id_lines: dict[str, int] = field(default_factory=dict)  # question id -> line of its `id:`


@dataclass
class Catalogue:
    lessons: dict[str, LessonEntry]  # in reading order: by track, then prerequisites first
    quiz_banks: list[QuizBankEntry]
    # True when built with the quick checks only (what a page needs to list and link lessons):
    # `fully_checked` runs the rest for the one lesson a page shows.
    quick: bool = False
    quiz_files: tuple[Path, ...] = ()  # a quick catalogue reads them only for `fully_checked`
    _checked: dict[str, LessonEntry] = field(default_factory=dict, repr=False, compare=False)
    _checked_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def problems(self) -> list[Problem]:
        found = [p for entry in self.lessons.values() for p in entry.problems]
        found += [p for bank in self.quiz_banks for p in bank.problems]
        return sorted(found, key=lambda p: (str(p.file), p.line))

    def ordered_ids(self) -> list[str]:
        return list(self.lessons)

    def fully_checked(self, lesson_id: str) -> LessonEntry | None:
        """The lesson with every check run, as `python -m app.content validate` runs them.

        A quick catalogue skips the checks that import an algorithm (a live run's preset against
        its config: torch), parse a diagram's DOT or parse an algorithm's source for a code
        reference (28 files' syntax trees, most of a cold Home page); a lesson page calls this for the lesson it
        shows, so those errors still replace the lesson with its problems. Remembered per
        catalogue (a new one is built when any file changes).
        """
        entry = self.lessons.get(lesson_id)
        if entry is None or not self.quick or not entry.ok:
            return entry
        with self._checked_lock:
            found = self._checked.get(lesson_id)
        if found is not None:
            return found
        full = _load_lesson(entry.path, entry.root, quick=False)
        problems = list(full.problems)
        if full.lesson is not None:
            valid_ids = {i for i, e in self.lessons.items() if e.lesson is not None}
            quiz_ids = {q for path in self.quiz_files for q in _load_quiz_bank(path, quick=True).question_ids}
            try:
                problems += _check_references(full, valid_ids, quiz_ids, bool(self.quiz_files), quick=False)
            except Exception as exc:  # as in build_catalogue: this lesson's problem, never a traceback
                problems.append(
                    Problem(entry.path, 1, "(lesson)", f"could not be checked: {type(exc).__name__}: {exc}")
                )
        checked = replace(entry, problems=problems) if problems else entry
        with self._checked_lock:
            self._checked[lesson_id] = checked
        return checked

    def neighbours(self, lesson_id: str) -> tuple[str | None, str | None]:
        """Previous and next valid lesson in reading order."""
        ids = [i for i, entry in self.lessons.items() if entry.ok]
        if lesson_id not in ids:
            return None, None
        index = ids.index(lesson_id)
        return (ids[index - 1] if index > 0 else None, ids[index + 1] if index + 1 < len(ids) else None)

    def by_track(self) -> dict[str, list[LessonEntry]]:
        groups: dict[str, list[LessonEntry]] = {track.value: [] for track in TRACK_ORDER}
        groups["Needs fixing"] = []
        for entry in self.lessons.values():
            key = entry.lesson.track.value if entry.lesson else "Needs fixing"
            groups[key].append(entry)
        return {track: entries for track, entries in groups.items() if entries}


def yaml_files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
    return found


def load_catalogue(
    lessons_dir: Path | None = None, quizzes_dir: Path | None = None, *, full: bool = False
) -> Catalogue:
    """Load lessons and question banks, reusing the last result while no file has changed.

    The key is every relevant file's modification time and size, so editing a lesson (or an
    algorithm a lesson shows) and reloading the page shows the change without restarting the
    server; each unchanged file's own work is reused from `app.content.filecache`, so the edited
    file is the only one read again.

    Pages use the quick checks (`full=False`, see `build_catalogue`) and `Catalogue.fully_checked`
    for the lesson they show; `full=True` runs every check on every file, as the validator does.
    """
    lessons_dir = lessons_dir or Path(os.environ.get(LESSONS_ENV) or LESSONS_DIR)
    quizzes_dir = quizzes_dir or Path(os.environ.get(QUIZZES_ENV) or QUIZZES_DIR)
    lesson_files, quiz_files = yaml_files([lessons_dir]), yaml_files([quizzes_dir])
    key = (
        str(lessons_dir),
        str(quizzes_dir),
        _fingerprint([*lesson_files, *quiz_files, *_python_files(ALGORITHMS_DIR)]),
    )
    with _cache_lock:
        found = _cache.get(f"catalogue-{full}")
        if found is not None and found[0] == key:
            return found[1]
    catalogue = build_catalogue(lesson_files, quiz_files, full=full)
    with _cache_lock:
        _cache[f"catalogue-{full}"] = (key, catalogue)
    return catalogue


_cache: dict[str, tuple[Any, Catalogue]] = {}
_cache_lock = threading.Lock()


def build_catalogue(lesson_files: Sequence[Path], quiz_files: Sequence[Path], *, full: bool = True) -> Catalogue:
    """Every lesson and bank with its problems. `full=False` runs the quick checks only, what a
    page needs to list and link lessons: every lesson file's YAML, schema, code references, links
    between lessons, duplicates and cycles; not the question banks (Practice and the quiz blocks
    get their questions from the grader's bank, `app/grading/bank.py`, which checks them), a
    lesson's questions being in them, a live run's preset against its algorithm's config (imports
    torch) or a diagram's DOT grammar. `Catalogue.fully_checked` runs those for the lesson a page
    shows; `python -m app.content validate` and the content tests run everything."""
    quick = not full
    banks = [] if quick else [_load_quiz_bank(path) for path in quiz_files]
    _check_duplicate_questions(banks)
    quiz_ids = {qid for bank in banks for qid in bank.question_ids}
    entries = [_load_lesson(path, quick=quick) for path in lesson_files]
    _check_duplicate_ids(entries)
    valid_ids = {e.id for e in entries if e.lesson is not None}
    for entry in entries:
        if entry.lesson is not None:
            try:
                entry.problems += _check_references(
                    entry, valid_ids, quiz_ids, check_quizzes=bool(quiz_files) and not quick, quick=quick
                )
            except Exception as exc:  # a check that breaks on odd content marks this lesson, no other
                entry.problems.append(
                    Problem(entry.path, 1, "(lesson)", f"could not be checked: {type(exc).__name__}: {exc}")
                )
    _check_cycles(entries)
    return Catalogue(
        lessons={e.id: e for e in _reading_order(entries)},
        quiz_banks=banks,
        quick=quick,
        quiz_files=tuple(quiz_files),
    )


def _load_lesson(path: Path, root: Path | None = None, quick: bool = False) -> LessonEntry:
    """One lesson file; whatever it holds, a problem with a line comes back, never an exception.

    The file's own checks are remembered while it is unchanged (`filecache`); the entry returned
    is a fresh copy, since building a catalogue adds problems to it and renames duplicates."""
    entry = cached(f"lesson-{'quick' if quick else 'full'}", path, lambda: _guarded_read(path, root, quick), str(root))
    return replace(entry, problems=list(entry.problems))


def _guarded_read(path: Path, root: Path | None, quick: bool) -> LessonEntry:
    try:
        return _read_lesson(path, root, quick)
    except Exception as exc:  # a bug a hostile file finds in a check must stay this file's problem
        problem = Problem(path, 1, "(lesson)", f"could not be checked: {type(exc).__name__}: {exc}")
        return LessonEntry(path.stem, path, None, problems=[problem])


def _read_lesson(path: Path, root: Path | None, quick: bool = False) -> LessonEntry:
    fallback_id = path.stem
    try:
        data, source = load_file_cached(path, root or path.parent)
    except YamlSyntaxError as exc:
        return LessonEntry(fallback_id, path, None, problems=[Problem(path, exc.line, "(yaml)", exc.message)])
    if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"]:
        fallback_id = data["id"]
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else f"a {type(data).__name__}"
        problem = Problem(path, 1, "(lesson)", f"expected a mapping with id, title, sections..., got {kind}")
        return LessonEntry(fallback_id, path, None, source, [problem])
    try:
        lesson = Lesson.model_validate(data, context=QUICK if quick else None)
    except ValidationError as exc:
        return LessonEntry(fallback_id, path, None, source, _problems_from(exc, path, source))
    problems = []
    if lesson.id != path.stem:
        problems.append(
            Problem(
                path,
                source.line_of(("id",)),
                "id",
                f"the id '{lesson.id}' differs from the file name '{path.name}': rename the file to "
                f"'{lesson.id}{path.suffix}' or set id: {path.stem}",
            )
        )
    return LessonEntry(lesson.id, path, lesson, source, problems)


def _load_quiz_bank(path: Path, root: Path | None = None, quick: bool = False) -> QuizBankEntry:
    """Validate one question bank (app/content/quiz_models.py); its ids count even when it is broken.

    The quick checks (no question run against the reference code) are remembered while the file
    and the lesson ids it names are unchanged; the full checks remember each question's code
    checks themselves (quiz_models._checked_against_code)."""
    from app.content.quiz_models import lesson_ids_in  # banks only: a page's quick catalogue reads none

    if not quick:
        return _guarded_bank(path, root, quick)
    lesson_ids = frozenset(lesson_ids_in(Path(os.environ.get(LESSONS_ENV) or LESSONS_DIR)))
    entry = cached("bank-quick", path, lambda: _guarded_bank(path, root, quick), (str(root), lesson_ids))
    return replace(entry, problems=list(entry.problems))


def _guarded_bank(path: Path, root: Path | None, quick: bool) -> QuizBankEntry:
    try:
        return _read_quiz_bank(path, root, quick)
    except Exception as exc:  # a bug a hostile file finds in a check must stay this file's problem
        return QuizBankEntry(
            path, [], [Problem(path, 1, "(bank)", f"could not be checked: {type(exc).__name__}: {exc}")]
        )


def _read_quiz_bank(path: Path, root: Path | None, quick: bool = False) -> QuizBankEntry:
    from app.content.bank_checks import check_bank
    from app.content.quiz_models import QuizBank, lesson_ids_in, validation_problems

    try:
        data, source = load_file_cached(path, root or path.parent)
    except YamlSyntaxError as exc:
        return QuizBankEntry(path, [], [Problem(path, exc.line, "(yaml)", exc.message)])
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else f"a {type(data).__name__}"
        return QuizBankEntry(
            path, [], [Problem(path, 1, "(bank)", f"expected a mapping with topic, title, questions, got {kind}")]
        )
    # A lesson naming a question of a broken bank should not get a second, misleading error.
    raw_ids = (
        [q["id"] for q in data.get("questions") or [] if isinstance(q, dict) and isinstance(q.get("id"), str)]
        if isinstance(data.get("questions"), list)
        else []
    )

    def problem(loc: tuple[Any, ...], message: str) -> Problem:
        return Problem(path, source.line_of(loc), _field_name(loc) if loc else "(bank)", message)

    try:
        bank = QuizBank.model_validate(data)
    except ValidationError as exc:
        return QuizBankEntry(path, raw_ids, [problem(loc, message) for loc, message in validation_problems(exc)])
    lesson_ids = lesson_ids_in(Path(os.environ.get(LESSONS_ENV) or LESSONS_DIR))
    problems = [problem(loc, message) for loc, message in check_bank(bank, lesson_ids, run_code=not quick)]
    lines = {q.id: source.line_of(("questions", i, "id")) for i, q in reversed(list(enumerate(bank.questions)))}
    return QuizBankEntry(path, [q.id for q in bank.questions], problems, lines)


def _problems_from(exc: ValidationError, path: Path, source: SourceMap) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = _strip_tags(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'" + _allowed_keys_hint(loc)
        elif error["type"] == "missing":
            message = "required field is missing"
        elif "input" in error and error["type"] not in ("block_kind",) and not isinstance(error["input"], dict):
            message += f" (got {error['input']!r})"
        problems.append(Problem(path, source.line_of(loc), _field_name(loc), message))
    return problems


def _strip_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # A discriminated union adds the tag to the location: blocks.0.code.code -> blocks.0.code.
    out: list[Any] = []
    for index, part in enumerate(loc):
        if part in BLOCK_KINDS and index > 0 and isinstance(loc[index - 1], int) and "blocks" in loc[:index]:
            continue
        out.append(part)
    return tuple(out)


def _allowed_keys_hint(loc: tuple[Any, ...]) -> str:
    parent = loc[:-1]
    if len(parent) == 0:
        return f"; a lesson has: {', '.join(Lesson.model_fields)}"
    if parent[-1:] and isinstance(parent[-1], int) and parent[:1] == ("sections",) and len(parent) == 2:
        return "; a section has: title, blocks"
    return ""


def _field_name(loc: tuple[Any, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "(lesson)"


def content_order(paths: Iterable[Path]) -> list[Path]:
    """Oldest file first (then by name): when two files claim one id, the earlier keeps it.

    A new file that reuses an id must not take over (or break) the lesson or question already
    published; the bank loader (app/grading/bank.py) serves questions in this same order.
    """

    def key(path: Path) -> tuple[int, str]:
        try:
            return (path.stat().st_mtime_ns, str(path))
        except OSError:
            return (0, str(path))

    return sorted(paths, key=key)


def _check_duplicate_ids(entries: list[LessonEntry]) -> None:
    first: dict[str, LessonEntry] = {}
    by_path = {entry.path: entry for entry in entries if entry.lesson is not None}
    for path in content_order(by_path):
        entry = by_path[path]
        kept = first.setdefault(entry.id, entry)
        if kept is entry:
            continue
        where = f"{_display_path(kept.path)}:{kept.source.line_of(('id',))}"
        entry.problems.append(
            Problem(
                entry.path,
                entry.source.line_of(("id",)),
                "id",
                f"lesson id '{entry.id}' is already used by {where}; that file keeps it and this one is not "
                "shown until it has an id of its own",
            )
        )
        entry.lesson = None


def _check_duplicate_questions(banks: list[QuizBankEntry]) -> None:
    first: dict[str, tuple[QuizBankEntry, int]] = {}
    by_path = {bank.path: bank for bank in banks}
    for path in content_order(by_path):
        bank = by_path[path]
        for qid in dict.fromkeys(bank.question_ids):
            line = bank.id_lines.get(qid, 1)
            kept = first.setdefault(qid, (bank, line))
            if kept[0] is bank:
                continue
            bank.problems.append(
                Problem(
                    bank.path,
                    line,
                    "id",
                    f"question id '{qid}' is already used at {_display_path(kept[0].path)}:{kept[1]}; that "
                    "question is served and this one is not: give it an id of its own",
                )
            )


def _check_references(
    entry: LessonEntry, lesson_ids: set[str], quiz_ids: set[str], check_quizzes: bool, quick: bool = False
) -> list[Problem]:
    lesson, path, source = entry.lesson, entry.path, entry.source
    assert lesson is not None
    problems: list[Problem] = []

    def add(loc: tuple[Any, ...], message: str) -> None:
        problems.append(Problem(path, source.line_of(loc), _field_name(loc), message))

    for index, prerequisite in enumerate(lesson.prerequisites):
        if prerequisite == lesson.id:
            add(("prerequisites", index), "a lesson cannot be its own prerequisite")
        elif prerequisite not in lesson_ids:
            add(("prerequisites", index), f"no lesson has id '{prerequisite}'")
    for s, section in enumerate(lesson.sections):
        for b, block in enumerate(section.blocks):
            loc = ("sections", s, "blocks", b)
            if isinstance(block, CodeBlock):
                if quick:  # parsed for the lesson on screen (`Catalogue.fully_checked`), not for a list
                    continue
                try:
                    resolve(block.code)
                except CodeRefError as exc:
                    add((*loc, "code"), str(exc))
            elif isinstance(block, DemoBlock):
                spec = DEMOS.get(block.demo)
                if spec is None:
                    add(
                        (*loc, "demo"),
                        f"unknown demo '{block.demo}'; known demos: {', '.join(sorted(DEMOS))}",
                    )
                    continue
                try:
                    spec.params.model_validate(block.params, context=QUICK if quick else None)
                except ValidationError as exc:
                    for error in exc.errors(include_url=False):
                        msg = (
                            "unknown parameter"
                            if error["type"] == "extra_forbidden"
                            else error["msg"].removeprefix("Value error, ")
                        )
                        if error["type"] == "extra_forbidden":
                            msg += f"; '{block.demo}' takes: {', '.join(spec.params.model_fields)}"
                        add((*loc, "params", *error["loc"]), msg)
            elif isinstance(block, QuizBlock) and check_quizzes:
                for q, qid in enumerate(block.quiz):
                    if qid not in quiz_ids:
                        add((*loc, "quiz", q), f"no question has id '{qid}' in quizzes/")
    return problems


def _check_cycles(entries: list[LessonEntry]) -> None:
    graph = {e.id: list(e.lesson.prerequisites) for e in entries if e.lesson is not None}
    by_id = {e.id: e for e in entries if e.lesson is not None}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt]
                entry = by_id[node]
                index = graph[node].index(nxt)
                entry.problems.append(
                    Problem(
                        entry.path,
                        entry.source.line_of(("prerequisites", index)),
                        f"prerequisites[{index}]",
                        "prerequisites form a cycle: " + " -> ".join(cycle),
                    )
                )
            elif state.get(nxt) is None and nxt in graph:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node, [node])


def _reading_order(entries: list[LessonEntry]) -> list[LessonEntry]:
    """Tracks in their fixed order; within a track, prerequisites first, then `order`, then file name."""
    track_rank = {track: i for i, track in enumerate(TRACK_ORDER)}
    valid_ids = {e.id for e in entries if e.lesson is not None}
    placed: list[LessonEntry] = []
    done: set[str] = set()

    def sort_key(e: LessonEntry) -> tuple[int, int, str]:
        assert e.lesson is not None
        return (track_rank[e.lesson.track], e.lesson.order, e.path.name)

    remaining = sorted((e for e in entries if e.lesson is not None), key=sort_key)
    while remaining:
        # The first lesson whose in-catalogue prerequisites are placed; a cycle falls back to order.
        ready = next(
            (e for e in remaining if all(p in done or p not in valid_ids for p in e.lesson.prerequisites)),
            remaining[0],
        )
        placed.append(ready)
        done.add(ready.id)
        remaining.remove(ready)
    broken = sorted((e for e in entries if e.lesson is None), key=lambda e: e.path.name)
    result, seen = [], set()
    for e in [*placed, *broken]:
        key = e.id if e.id not in seen else f"{e.id}@{_display_path(e.path)}"
        seen.add(key)
        e.id = key
        result.append(e)
    return result


def _python_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.py")) if directory.is_dir() else []


def _fingerprint(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)
