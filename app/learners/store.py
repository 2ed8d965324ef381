"""Learners' attempts, lesson events, review cards and drills, in the learner database (`db`).

Every function opens its own short transaction, so Streamlit sessions on many threads (and
processes) can call them at once; an attempt and the card it changes are written in one
transaction, so a crash leaves both or neither. Attempts and events carry a uuid: an export
imported twice adds nothing the second time.
"""

from __future__ import annotations

import time
import uuid as uuid_lib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from app.learners import db, schedule

EXPORT_FORMAT = "rldojo-progress"
EXPORT_VERSION = 1
LESSON_DONE = "lesson-done"

_ATTEMPT_FIELDS = (
    "uuid",
    "learner",
    "question_id",
    "kind",
    "correct",
    "score",
    "self_graded",
    "seed",
    "response",
    "details",
    "duration_s",
    "drill_id",
)


def _attempt_dict(row: Any) -> dict[str, Any]:
    m = row._mapping
    out = {name: m[name] for name in _ATTEMPT_FIELDS}
    out["time"] = m["created_at"]
    out["correct"] = bool(out["correct"])
    out["self_graded"] = bool(out["self_graded"])
    out["details"] = out["details"] or {}
    return out


# ---------------------------------------------------------------------------------------------
# attempts and their cards
# ---------------------------------------------------------------------------------------------


def insert_attempt(conn: Connection, record: dict[str, Any]) -> None:
    """Insert one attempt inside the caller's transaction (does not touch its card)."""
    conn.execute(
        insert(db.attempts).values(
            **{name: record.get(name) for name in _ATTEMPT_FIELDS},
            created_at=record["time"],
        )
    )


def record_attempt(
    learner: str,
    question_id: str,
    kind: str,
    correct: bool,
    score: float,
    response: Any = None,
    *,
    seed: int | None = None,
    self_graded: bool = False,
    details: dict[str, Any] | None = None,
    duration_s: float | None = None,
    drill_id: str | None = None,
    at: float | None = None,
) -> dict[str, Any]:
    """Store one answer and reschedule its card, in one transaction; return the stored record."""
    record = {
        "uuid": str(uuid_lib.uuid4()),
        "time": time.time() if at is None else at,
        "learner": learner,
        "question_id": question_id,
        "kind": kind,
        "correct": bool(correct),
        "score": round(float(score), 4),
        "self_graded": bool(self_graded),
        "seed": seed,
        "response": response,
        "details": details or {},
        "duration_s": None if duration_s is None else round(float(duration_s), 2),
        "drill_id": drill_id,
    }
    with db.transaction() as conn:
        insert_attempt(conn, record)
        rebuild_cards(conn, learner, [question_id])
    return record


def attempts(
    learner: str | None = None,
    question_id: str | None = None,
    drill_id: str | None = None,
    since: float | None = None,
) -> list[dict[str, Any]]:
    """Stored attempts, oldest first, filtered by whichever arguments are given."""
    query = select(db.attempts).order_by(db.attempts.c.created_at, db.attempts.c.id)
    if learner is not None:
        query = query.where(db.attempts.c.learner == learner)
    if question_id is not None:
        query = query.where(db.attempts.c.question_id == question_id)
    if drill_id is not None:
        query = query.where(db.attempts.c.drill_id == drill_id)
    if since is not None:
        query = query.where(db.attempts.c.created_at >= since)
    with db.reading() as conn:
        return [_attempt_dict(row) for row in conn.execute(query)]


def learners() -> list[str]:
    """Everyone who has answered a question or finished a lesson, sorted."""
    with db.reading() as conn:
        names = set(conn.execute(select(db.attempts.c.learner).distinct()).scalars())
        names |= set(conn.execute(select(db.events.c.learner).distinct()).scalars())
    return sorted(names)


def rebuild_cards(conn: Connection, learner: str, question_ids: Iterable[str]) -> None:
    """Replay `learner`'s answers to each question into its card (inside the caller's transaction)."""
    for qid in sorted(set(question_ids)):
        rows = conn.execute(
            select(db.attempts).where(db.attempts.c.learner == learner, db.attempts.c.question_id == qid)
        )
        card = schedule.build_card(learner, qid, [_attempt_dict(r) for r in rows])
        key = (db.cards.c.learner == learner) & (db.cards.c.question_id == qid)
        conn.execute(delete(db.cards).where(key))
        if card is None:
            continue
        conn.execute(
            insert(db.cards).values(
                learner=learner,
                question_id=qid,
                card=card.card.to_dict(),
                due=card.due,
                state=int(card.card.state),
                reps=card.reps,
                lapses=card.lapses,
                last_correct=card.last_correct,
                last_review=card.last_review,
            )
        )


@dataclass(frozen=True)
class CardRow:
    """A card as the pages list it."""

    learner: str
    question_id: str
    due: float
    state: int
    reps: int
    lapses: int
    last_correct: bool
    last_review: float
    stability: float | None


def cards(learner: str | None = None, due_before: float | None = None) -> list[CardRow]:
    """Review cards, soonest due first."""
    query = select(db.cards).order_by(db.cards.c.due)
    if learner is not None:
        query = query.where(db.cards.c.learner == learner)
    if due_before is not None:
        query = query.where(db.cards.c.due <= due_before)
    with db.reading() as conn:
        rows = list(conn.execute(query))
    return [
        CardRow(
            r.learner,
            r.question_id,
            r.due,
            r.state,
            r.reps,
            r.lapses,
            bool(r.last_correct),
            r.last_review,
            (r.card or {}).get("stability"),
        )
        for r in rows
    ]


# ---------------------------------------------------------------------------------------------
# events (a lesson marked done)
# ---------------------------------------------------------------------------------------------


def record_event(learner: str, kind: str, subject: str, *, at: float | None = None) -> dict[str, Any]:
    record = {
        "uuid": str(uuid_lib.uuid4()),
        "learner": learner,
        "kind": kind,
        "subject": subject,
        "time": time.time() if at is None else at,
    }
    with db.transaction() as conn:
        _insert_event(conn, record)
    return record


def _insert_event(conn: Connection, record: dict[str, Any]) -> None:
    conn.execute(
        insert(db.events).values(
            uuid=record["uuid"],
            learner=record["learner"],
            kind=record["kind"],
            subject=record["subject"],
            created_at=record["time"],
        )
    )


def events(learner: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    query = select(db.events).order_by(db.events.c.created_at, db.events.c.id)
    if learner is not None:
        query = query.where(db.events.c.learner == learner)
    if kind is not None:
        query = query.where(db.events.c.kind == kind)
    with db.reading() as conn:
        return [
            {"uuid": r.uuid, "learner": r.learner, "kind": r.kind, "subject": r.subject, "time": r.created_at}
            for r in conn.execute(query)
        ]


def lessons_done(learner: str) -> set[str]:
    return {e["subject"] for e in events(learner, LESSON_DONE)}


# ---------------------------------------------------------------------------------------------
# export and import
# ---------------------------------------------------------------------------------------------


def export_learner(learner: str) -> dict[str, Any]:
    """Everything `learner` did, as plain JSON data. Cards are not exported: they are rebuilt."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "learner": learner,
        "exported_at": time.time(),
        "attempts": [{k: v for k, v in a.items() if k != "learner"} for a in attempts(learner)],
        "events": [{k: v for k, v in e.items() if k != "learner"} for e in events(learner)],
    }


@dataclass(frozen=True)
class ImportResult:
    attempts_added: int
    attempts_skipped: int  # already here (same uuid)
    events_added: int
    events_skipped: int


class BadExport(ValueError):
    """The file is not an RL Dojo progress export."""


def _check_export(data: Any) -> None:
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise BadExport("this is not an RL Dojo progress export")
    if data.get("version") != EXPORT_VERSION:
        raise BadExport(f"export version {data.get('version')!r} is not supported (expected {EXPORT_VERSION})")
    if not isinstance(data.get("attempts", []), list) or not isinstance(data.get("events", []), list):
        raise BadExport("`attempts` and `events` must be lists")


def _clean_attempt(raw: Any, learner: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadExport("an attempt is not an object")
    try:
        uuid = str(uuid_lib.UUID(str(raw["uuid"])))
        return {
            "uuid": uuid,
            "learner": learner,
            "question_id": str(raw["question_id"]),
            "kind": str(raw["kind"]),
            "correct": bool(raw["correct"]),
            "score": float(raw["score"]),
            "self_graded": bool(raw.get("self_graded", False)),
            "seed": None if raw.get("seed") is None else int(raw["seed"]),
            "response": raw.get("response"),
            "details": raw.get("details") or {},
            "duration_s": None if raw.get("duration_s") is None else float(raw["duration_s"]),
            "drill_id": raw.get("drill_id"),
            "time": float(raw["time"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise BadExport(f"an attempt is missing or has a bad field: {exc}") from exc


def import_learner(data: Any, learner: str | None = None) -> ImportResult:
    """Add an export's attempts and events (to `learner`, default the exporter's name).

    Attempts already stored (same uuid) are skipped; the whole import is one transaction."""
    _check_export(data)
    learner = learner or str(data.get("learner") or "")
    if not learner:
        raise BadExport("the export names no learner")
    incoming = [_clean_attempt(a, learner) for a in data.get("attempts", [])]
    incoming_events = []
    for e in data.get("events", []):
        try:
            incoming_events.append(
                {
                    "uuid": str(uuid_lib.UUID(str(e["uuid"]))),
                    "learner": learner,
                    "kind": str(e["kind"]),
                    "subject": str(e["subject"]),
                    "time": float(e["time"]),
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadExport(f"an event is missing or has a bad field: {exc}") from exc
    with db.transaction() as conn:
        known = _existing_uuids(conn, db.attempts, [a["uuid"] for a in incoming])
        new = [a for a in _unique(incoming) if a["uuid"] not in known]
        for record in new:
            insert_attempt(conn, record)
        known_events = _existing_uuids(conn, db.events, [e["uuid"] for e in incoming_events])
        new_events = [e for e in _unique(incoming_events) if e["uuid"] not in known_events]
        for record in new_events:
            _insert_event(conn, record)
        rebuild_cards(conn, learner, {a["question_id"] for a in new})
    return ImportResult(len(new), len(incoming) - len(new), len(new_events), len(incoming_events) - len(new_events))


def _unique(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for r in records:
        if r["uuid"] not in seen:
            seen.add(r["uuid"])
            out.append(r)
    return out


def _existing_uuids(conn: Connection, table: Any, uuids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(uuids), 500):  # keep each IN (...) under the bound-parameter limits
        chunk = uuids[i : i + 500]
        found |= set(conn.execute(select(table.c.uuid).where(table.c.uuid.in_(chunk))).scalars())
    return found


# ---------------------------------------------------------------------------------------------
# drills: their state is JSON, shared by every tab that opens the drill's URL
# ---------------------------------------------------------------------------------------------


def save_drill(drill_id: str, learner: str, kind: str, state: dict[str, Any]) -> None:
    now = time.time()
    with db.transaction() as conn:
        conn.execute(
            insert(db.drills).values(
                id=drill_id, learner=learner, kind=kind, state=state, version=1, created_at=now, updated_at=now
            )
        )


def load_drill(drill_id: str) -> dict[str, Any] | None:
    """The drill's row as a dict (`id`, `learner`, `kind`, `state`, `version`), or None."""
    with db.reading() as conn:
        row = conn.execute(select(db.drills).where(db.drills.c.id == drill_id)).first()
    return dict(row._mapping) if row else None


def update_drill(drill_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any] | None:
    """Apply `change` to the drill's stored state and store the result, atomically (two tabs may
    click at once: the second sees the first's change). Returns the new state, None if no drill."""
    with db.transaction() as conn:
        row = conn.execute(select(db.drills).where(db.drills.c.id == drill_id).with_for_update()).first()
        if row is None:
            return None
        state = change(dict(row.state))
        conn.execute(
            update(db.drills)
            .where(db.drills.c.id == drill_id)
            .values(state=state, version=row.version + 1, updated_at=time.time())
        )
    return state


def drills_of(learner: str, limit: int = 20) -> list[dict[str, Any]]:
    query = select(db.drills).where(db.drills.c.learner == learner).order_by(db.drills.c.created_at.desc())
    with db.reading() as conn:
        return [dict(r._mapping) for r in conn.execute(query.limit(limit))]
