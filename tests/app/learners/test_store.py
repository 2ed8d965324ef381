"""The learner store: many threads at once, export and import, transactions that fail half-way."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.learners import db, drills, store


def test_attempts_live_in_sqlite_in_wal_mode_in_the_data_dir(data_dir: Path) -> None:
    record = store.record_attempt("ada", "markov-property", "choice", True, 1.0, "answer", seed=7, duration_s=12.345)
    assert (data_dir / "learners.sqlite").exists()
    with sqlite3.connect(data_dir / "learners.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = conn.execute("SELECT learner, question_id, seed, duration_s, uuid FROM attempts").fetchone()
    assert row == ("ada", "markov-property", 7, 12.35, record["uuid"])
    (read,) = store.read_attempts("markov-property", learner="ada")
    assert read["uuid"] == record["uuid"] and read["correct"] is True and read["response"] == "answer"
    assert store.read_attempts(learner="bob") == []
    (card,) = store.cards("ada")
    assert card.question_id == "markov-property" and card.reps == 1 and card.due > read["time"]


def test_record_attempt_appends_json_lines(data_dir: Path) -> None:
    store.record_attempt("local", "markov-property", "choice", True, 1.0, "answer", seed=3)
    store.record_attempt("local", "gae", "implement", False, 0.5, "code", details={"cases_passed": 3})
    lines = (data_dir / "attempts.jsonl").read_text().splitlines()
    assert [json.loads(line)["question_id"] for line in lines] == ["markov-property", "gae"]
    assert [a["question_id"] for a in store.read_attempts()] == ["markov-property", "gae"]
    (gae,) = store.read_attempts("gae")
    assert gae["correct"] is False and gae["details"] == {"cases_passed": 3} and gae["time"] > 0


def test_many_threads_writing_at_once_lose_nothing() -> None:
    threads, per_thread = 16, 15
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                store.record_attempt(f"learner-{n % 4}", f"q{i % 3}", "choice", i % 2 == 0, 1.0, seed=i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors
    stored = store.attempts()
    assert len(stored) == threads * per_thread
    assert len({a["uuid"] for a in stored}) == threads * per_thread
    # Each card saw every answer to its question: none was lost between the attempt and its card.
    for card in store.cards():
        answers = [a for a in stored if a["learner"] == card.learner and a["question_id"] == card.question_id]
        assert card.reps == len(answers)
    assert store.learners() == [f"learner-{k}" for k in range(4)]


def test_export_import_round_trip_and_import_twice_adds_nothing(data_dir: Path, monkeypatch) -> None:
    store.record_attempt("ada", "markov-property", "choice", True, 1.0, "A", seed=1, at=1_700_000_000.0)
    store.record_attempt("ada", "discount-factor", "explain", False, 0.5, "text", seed=2, duration_s=40)
    store.record_attempt("bob", "markov-property", "choice", False, 0.0, "B")  # not in ada's export
    store.record_event("ada", store.LESSON_DONE, "returns-and-discounting")
    exported = json.loads(json.dumps(store.export_learner("ada")))  # through JSON, as a file would be
    assert len(exported["attempts"]) == 2 and len(exported["events"]) == 1

    monkeypatch.setenv("RLDOJO_DATA_DIR", str(data_dir.parent / "other-machine"))
    first = store.import_learner(exported)
    assert (first.attempts_added, first.attempts_skipped, first.events_added) == (2, 0, 1)
    again = store.import_learner(exported)
    assert (again.attempts_added, again.attempts_skipped, again.events_added, again.events_skipped) == (0, 2, 0, 1)
    assert len(store.attempts("ada")) == 2
    mine = store.export_learner("ada")
    key = ("uuid", "question_id", "correct", "score", "seed", "response", "duration_s", "time")
    assert [tuple(a[k] for k in key) for a in mine["attempts"]] == [
        tuple(a[k] for k in key) for a in exported["attempts"]
    ]
    assert store.lessons_done("ada") == {"returns-and-discounting"}
    assert {c.question_id for c in store.cards("ada")} == {"markov-property", "discount-factor"}  # rebuilt
    assert store.learners() == ["ada"]


def test_import_into_another_name_and_bad_files_are_refused() -> None:
    store.record_attempt("ada", "q1", "choice", True, 1.0)
    exported = store.export_learner("ada")
    with pytest.raises(store.BadExport):
        store.import_learner({"format": "something-else"})
    with pytest.raises(store.BadExport):
        store.import_learner({**exported, "attempts": [{"uuid": "not-a-uuid"}]})
    store.import_learner(exported, learner="ada-laptop")  # same uuid: already here, so skipped
    assert store.attempts("ada-laptop") == []


def test_an_exception_inside_a_transaction_loses_nothing_committed() -> None:
    kept = store.record_attempt("ada", "q1", "choice", True, 1.0)
    with pytest.raises(RuntimeError), db.transaction() as conn:
        store.insert_attempt(conn, {**kept, "uuid": "00000000-0000-0000-0000-000000000001", "time": 1.0})
        store.rebuild_cards(conn, "ada", ["q1"])
        raise RuntimeError("the process dies half-way through the write")
    assert [a["uuid"] for a in store.attempts()] == [kept["uuid"]]
    (card,) = store.cards("ada")
    assert card.reps == 1
    store.record_attempt("ada", "q1", "choice", False, 0.0)  # the store still works afterwards
    assert len(store.attempts()) == 2


def test_an_attempt_and_its_card_are_written_together(monkeypatch) -> None:
    store.record_attempt("ada", "q1", "choice", True, 1.0)

    def broken(*args, **kwargs):
        raise RuntimeError("scheduler crashed")

    monkeypatch.setattr(store.schedule, "build_card", broken)
    with pytest.raises(RuntimeError):
        store.record_attempt("ada", "q1", "choice", False, 0.0)
    with db.reading() as conn:
        assert conn.execute(select(func.count()).select_from(db.attempts)).scalar() == 1
    assert store.cards("ada")[0].reps == 1


def test_a_drill_update_from_two_threads_applies_both() -> None:
    drill = drills.new_retrieval("ada", [f"q{i}" for i in range(10)], now=0.0, count=10)
    store.save_drill(drill.id, "ada", drill.kind, drill.to_dict())
    barrier = threading.Barrier(8)

    def skip() -> None:
        barrier.wait()
        store.update_drill(drill.id, drills.updating(lambda d: d.advance(1.0)))

    pool = [threading.Thread(target=skip) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    row = store.load_drill(drill.id)
    assert row["version"] == 9 and drills.Drill.from_dict(row["state"]).position == 8
    assert store.update_drill("no-such-drill", lambda s: s) is None


def test_database_url_points_elsewhere(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(db.DATABASE_URL_ENV, f"sqlite:///{tmp_path / 'class.db'}")
    store.record_attempt("ada", "q1", "choice", True, 1.0)
    assert (tmp_path / "class.db").exists()
    assert db.database_url().endswith("class.db")
