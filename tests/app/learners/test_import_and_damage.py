"""Issue 11, data the learner brings or already has: a crafted import is refused whole, naming its
first bad record; a damaged learners.sqlite is detected at open, said on the pages that need it with
what to do, never written to, and lessons keep working."""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.learners import db, store
from tests.app.learners.test_learner_pages import open_page, texts


def _export_with(n: int = 3) -> dict:
    for i in range(n):
        store.record_attempt("ada", f"q{i}", "choice", i % 2 == 0, float(i % 2 == 0), {"choice": i}, seed=i)
    return json.loads(json.dumps(store.export_learner("ada")))


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("score", "NaN", "score: Input should be a valid number"),
        ("score", float("nan"), "score: Input should be a finite number"),
        ("time", "Infinity", "time: Input should be a valid number"),
        ("time", float("inf"), "time: Input should be a finite number"),
        ("seed", 2**70, "seed: Input should be less than or equal to 9223372036854775807"),
        ("correct", "false", "correct: Input should be a valid boolean"),
        ("correct", 0, "correct: Input should be a valid boolean"),
        ("score", 7.5, "score: Input should be less than or equal to 1"),
        ("question_id", "", "question_id: String should have at least 1 character"),
        ("uuid", "not-a-uuid", "uuid: String should match pattern"),
    ],
)
def test_a_bad_record_refuses_the_whole_file_and_is_named(field: str, value: object, said: str) -> None:
    exported = _export_with(3)
    bad_uuid = exported["attempts"][2]["uuid"]
    exported["attempts"][2][field] = value
    raw = json.dumps(exported)  # NaN and Infinity are written as the JSON tokens a crafted file would hold
    with pytest.raises(store.BadExport) as caught:
        store.import_file(raw.encode(), learner="bob")
    message = str(caught.value)
    assert message.startswith("attempt 3") and said in message, message
    if field != "uuid":
        assert bad_uuid in message
    assert store.attempts("bob") == []  # the two good records before it were not imported either


def test_deep_huge_and_non_json_files_are_refused_with_a_message() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(store.BadExport, match=r"not valid JSON.*recursion limit"):
        store.import_file(deep.encode(), learner="bob")
    nested = _export_with(1)
    nested["attempts"][0]["response"] = "PLACEHOLDER"
    raw = json.dumps(nested).replace('"PLACEHOLDER"', "[" * 100_000 + "]" * 100_000)
    with pytest.raises(store.BadExport, match="not valid JSON"):
        store.import_file(raw.encode(), learner="bob")
    with pytest.raises(store.BadExport, match="not valid JSON"):
        store.import_file(b"\xff\xfe\x00garbage", learner="bob")
    with pytest.raises(store.BadExport, match="not an RL Dojo progress export"):
        store.import_file(b"[1, 2, 3]", learner="bob")
    with pytest.raises(store.BadExport, match="version 2 is not supported"):
        store.import_file(b'{"format": "rldojo-progress", "version": 2}', learner="bob")
    with pytest.raises(store.BadExport, match="at most"):
        store.import_file(b" " * (store.MAX_IMPORT_BYTES + 1), learner="bob")
    assert store.attempts("bob") == []


def test_a_good_file_with_free_form_nan_in_a_response_imports() -> None:
    store.record_attempt("ada", "q1", "predict", False, 0.0, {"x": float("nan")}, seed=3)
    raw = json.dumps(store.export_learner("ada"))  # the Progress page's export writes NaN as a token
    result = store.import_file(raw.encode(), learner="bob")
    assert result.attempts_added == 0 and result.attempts_skipped == 1  # same uuid: already here
    theirs = json.loads(raw)
    theirs["attempts"][0]["uuid"] = "12345678-1234-5678-1234-567812345678"
    assert store.import_file(json.dumps(theirs), learner="bob").attempts_added == 1
    [imported] = store.attempts("bob")
    assert imported["seed"] == 3 and imported["correct"] is False


def test_the_progress_page_refuses_a_crafted_file_without_a_traceback() -> None:
    exported = _export_with(2)
    exported["attempts"][1]["correct"] = "false"
    at = open_page("views/progress.py")
    assert not at.exception
    # AppTest cannot upload: call what the page's uploader calls, with the bytes it would hand over
    with pytest.raises(store.BadExport, match=r"attempt 2 .*correct: Input should be a valid boolean"):
        store.import_file(json.dumps(exported).encode(), learner="ada")


# --- generated imports: whatever a file holds, it is imported whole or refused with a message ---
_TEMPLATE = {
    "format": "rldojo-progress",
    "version": 1,
    "learner": "ada",
    "exported_at": 1_700_000_000.0,
    "attempts": [
        {
            "uuid": f"12345678-1234-5678-1234-56781234567{i}",
            "question_id": f"q{i}",
            "kind": "choice",
            "correct": i % 2 == 0,
            "score": float(i % 2 == 0),
            "self_graded": False,
            "seed": i,
            "response": {"choice": i},
            "details": {},
            "duration_s": 3.5,
            "drill_id": None,
            "time": 1_700_000_000.0 + i,
        }
        for i in range(3)
    ],
    "events": [{"uuid": "87654321-1234-5678-1234-567812345678", "kind": "lesson", "subject": "x", "time": 1.7e9}],
}
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_PLACES = [("attempts", i, f) for i in (0, 2) for f in _TEMPLATE["attempts"][0]] + [
    ("events", 0, f) for f in _TEMPLATE["events"][0]
]


def _import_or_refuse(raw: bytes) -> None:
    before = len(store.attempts("bob"))
    try:
        result = store.import_file(raw, learner="bob")
    except store.BadExport as exc:  # what the Progress page shows in one line
        assert str(exc) and "\n" not in str(exc)
        assert len(store.attempts("bob")) == before  # refused whole
    else:
        assert len(store.attempts("bob")) == before + result.attempts_added
        for attempt in store.attempts("bob"):
            assert type(attempt["correct"]) is bool and 0.0 <= attempt["score"] <= 1.0


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(place=st.sampled_from([*_PLACES, ("attempts",), ("events",), ("version",), ("learner",)]), value=_JSON)
def test_any_value_anywhere_is_imported_or_refused_with_a_message(place: tuple, value: object) -> None:
    crafted = copy.deepcopy(_TEMPLATE)
    target = crafted
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = value
    _import_or_refuse(json.dumps(crafted).encode())  # NaN and Infinity as the JSON tokens


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_bytes_changed_in_an_export_are_imported_or_refused_with_a_message(data: st.DataObject) -> None:
    raw = bytearray(json.dumps(_TEMPLATE).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        chunk = data.draw(st.binary(min_size=1, max_size=6) | st.sampled_from([b"[" * 300, b"NaN", b"1e999", b"-"]))
        raw[at : at + data.draw(st.integers(0, 3))] = chunk
    _import_or_refuse(bytes(raw))


# --- a damaged database ------------------------------------------------------------------------
def _stored_answers(data_dir: Path, n: int = 100) -> Path:
    for i in range(n):
        store.record_attempt("ada", f"q{i % 7}", "choice", i % 3 == 0, float(i % 3 == 0), {"text": "x" * 200})
    path = data_dir / db.FILE_NAME
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, as after a clean stop
    conn.close()
    db.dispose_all()  # a new server process opens it next
    assert path.stat().st_size > 16_384
    return path


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated-8k":
        path.write_bytes(data[:8192])
    elif how == "garbage-header":
        path.write_bytes(b"this is not sqlite at all" + data[25:])
    elif how == "empty":
        path.write_bytes(b"")
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        extra.unlink(missing_ok=True)


@pytest.mark.parametrize("how", ["truncated-8k", "garbage-header", "empty"])
def test_a_damaged_database_is_detected_at_open_and_never_written(data_dir: Path, how: str) -> None:
    path = _stored_answers(data_dir)
    _damage(path, how)
    before = path.read_bytes()
    problem = db.problem()
    assert problem is not None and str(path) in problem and "Move it aside" in problem, problem
    with pytest.raises(db.DatabaseUnusable, match="Move it aside"):
        store.attempts("ada")
    with pytest.raises(db.DatabaseUnusable):
        store.record_attempt("ada", "q1", "choice", True, 1.0)
    with pytest.raises(db.DatabaseUnusable):
        store.import_file(json.dumps({"format": "rldojo-progress", "version": 1}), learner="ada")
    assert path.read_bytes() == before  # never overwritten, never "repaired" into an empty database
    path.rename(path.with_name("learners.sqlite.broken"))  # what the message says to do
    assert db.problem() is None
    store.record_attempt("ada", "q1", "choice", True, 1.0)
    assert len(store.attempts("ada")) == 1


@pytest.mark.parametrize(
    ("page", "how"),
    [
        ("views/progress.py", "truncated-8k"),
        ("views/progress.py", "garbage-header"),
        ("views/progress.py", "empty"),  # was silently an empty history: 100 answers gone
        ("views/review.py", "truncated-8k"),
        ("views/drill.py", "truncated-8k"),
        ("views/class_page.py", "truncated-8k"),
    ],
)
def test_pages_that_need_the_database_say_what_to_do(data_dir: Path, page: str, how: str) -> None:
    _damage(_stored_answers(data_dir, n=60), how)
    at = open_page(page)
    assert not at.exception, at.exception
    shown = texts(at)
    assert "cannot be read" in shown and "Move it aside" in shown and "malformed" not in shown.split("SQLite")[0]


def test_lessons_and_practice_keep_working_with_a_damaged_database(data_dir: Path) -> None:
    _damage(_stored_answers(data_dir, n=60), "garbage-header")
    # the whole lesson: its quiz and, at its end, "Mark lesson done" read the damaged store too
    lesson = open_page("views/lesson.py", lesson="returns-and-discounting", section="all")
    assert not lesson.exception, lesson.exception
    assert any("learner database is damaged" in w.value for w in lesson.sidebar.warning)
    assert "Returns" in texts(lesson)
    practice = open_page("views/practice.py")
    assert not practice.exception, practice.exception
    home = open_page("views/home.py")
    assert not home.exception, home.exception
    assert any("learner database is damaged" in w.value for w in home.sidebar.warning)
    assert "What an agent actually maximises" in texts(home)  # the catalogue is there
