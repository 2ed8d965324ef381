"""Learners' attempts, lesson events, review cards and drills, in the learner database (`db`).

Every function opens its own short transaction, so Streamlit sessions on many threads (and
processes) can call them at once; an attempt and the card it changes are written in one
transaction, so a crash leaves both or neither. Attempts and events carry a uuid: an export
imported twice adds nothing the second time.

`record_attempt` also appends each attempt as one JSON line to `attempts.jsonl` in the data folder
(`app.settings.data_dir`): a plain journal to grep or back up, never read back. `read_attempts` is
what a page reads: the attempts, or none while the database is damaged (the sidebar says so).
"""

from __future__ import annotations

import json
import threading
import time
import uuid as uuid_lib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, delete, insert, select, update

from app.learners import db, schedule
from app.learners.identity import is_anonymous
from app.settings import data_dir

EXPORT_FORMAT = "rldojo-progress"
EXPORT_VERSION = 1
LESSON_DONE = "lesson-done"
JOURNAL = "attempts.jsonl"
_journal_lock = threading.Lock()

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
    """Store one answer and reschedule its card, in one transaction, then append it to the journal;
    return the stored record."""
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
    _journal(record)
    return record


def _journal(record: dict[str, Any]) -> None:
    directory = data_dir()
    line = json.dumps(record, default=str)
    with _journal_lock:
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / JOURNAL).open("a", encoding="utf-8") as f:
            f.write(line + "\n")


def read_attempts(question_id: str | None = None, learner: str | None = None) -> list[dict[str, Any]]:
    """Stored attempts, oldest first; each a dict with `time`, `learner`, `question_id`, `kind`,
    `correct`, `score`, `self_graded`, `seed`, `response`, `details`, `duration_s`, `drill_id`, `uuid`.
    Empty while the learner database is damaged (the sidebar says so): a page that shows a history
    shows none rather than failing."""
    try:
        return attempts(learner=learner, question_id=question_id)
    except db.DatabaseUnusable:
        return []


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


def learners(include_anonymous: bool = False) -> list[str]:
    """Everyone who has answered a question or finished a lesson, sorted; anonymous browsers
    (and the legacy `local`) only when asked for: they are not people."""
    with db.reading() as conn:
        names = set(conn.execute(select(db.attempts.c.learner).distinct()).scalars())
        names |= set(conn.execute(select(db.events.c.learner).distinct()).scalars())
    return sorted(n for n in names if include_anonymous or not is_anonymous(n))


def claim_anonymous(anonymous: str, learner: str) -> int:
    """Move what an anonymous browser did (attempts, lesson events, drills, cards) to `learner`,
    in one transaction; returns how many attempts moved. Called when a name is first given."""
    if anonymous == learner or not is_anonymous(anonymous) or is_anonymous(learner):
        return 0
    with db.transaction() as conn:
        mine = db.attempts.c.learner == anonymous
        question_ids = set(conn.execute(select(db.attempts.c.question_id).where(mine).distinct()).scalars())
        moved = conn.execute(update(db.attempts).where(mine).values(learner=learner)).rowcount
        conn.execute(update(db.events).where(db.events.c.learner == anonymous).values(learner=learner))
        conn.execute(update(db.drills).where(db.drills.c.learner == anonymous).values(learner=learner))
        conn.execute(delete(db.cards).where(db.cards.c.learner == anonymous))
        rebuild_cards(conn, learner, question_ids)
    return moved


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
    """The file is not an RL Dojo progress export, or one of its records is bad (the message says which)."""


MAX_IMPORT_BYTES = 50_000_000
MAX_RECORDS = 500_000
_UUID = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
_LATEST = 4_102_444_800.0  # 2100-01-01: no answer is dated later
_STRICT = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore")


class _ImportedAttempt(BaseModel):
    """One attempt of an export, every field typed and bounded (strict: "false" is not a bool)."""

    model_config = _STRICT
    uuid: Annotated[str, Field(pattern=_UUID)]
    question_id: Annotated[str, Field(min_length=1, max_length=120)]
    kind: Annotated[str, Field(min_length=1, max_length=40)]
    correct: bool
    score: Annotated[float, Field(ge=0.0, le=1.0)]
    self_graded: bool = False
    seed: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None = None
    response: Any = None
    details: dict[str, Any] | None = None
    duration_s: Annotated[float, Field(ge=0.0, le=10_000_000.0)] | None = None
    drill_id: Annotated[str, Field(max_length=40)] | None = None
    time: Annotated[float, Field(ge=0.0, le=_LATEST)]


class _ImportedEvent(BaseModel):
    model_config = _STRICT
    uuid: Annotated[str, Field(pattern=_UUID)]
    kind: Annotated[str, Field(min_length=1, max_length=40)]
    subject: Annotated[str, Field(min_length=1, max_length=200)]
    time: Annotated[float, Field(ge=0.0, le=_LATEST)]


class _Export(BaseModel):
    model_config = _STRICT
    format: Literal["rldojo-progress"]
    version: Literal[1]
    learner: Annotated[str, Field(max_length=200)] | None = None
    exported_at: Annotated[float, Field(ge=0.0, le=_LATEST)] | None = None
    attempts: Annotated[list[_ImportedAttempt], Field(max_length=MAX_RECORDS)] = []
    events: Annotated[list[_ImportedEvent], Field(max_length=MAX_RECORDS)] = []


def _first_problem(exc: ValidationError, data: Any) -> str:
    """The first bad record and field of an export, in words: 'attempt 3 (uuid ...): score: ...'."""
    error = exc.errors(include_url=False)[0]
    loc = list(error["loc"])
    message = error["msg"]
    if error["type"] == "json_invalid":
        return f"this file is not valid JSON ({message.removeprefix('Invalid JSON: ')})"
    if loc[:1] == ["format"] or (not loc and error["type"] in ("model_type", "dict_type")):
        return "this is not an RL Dojo progress export"
    if loc[:1] == ["version"]:
        found = data.get("version") if isinstance(data, dict) else None
        return f"export version {found!r} is not supported (expected {EXPORT_VERSION})"
    if len(loc) >= 2 and loc[0] in ("attempts", "events") and isinstance(loc[1], int):
        kind = "attempt" if loc[0] == "attempts" else "event"
        where = f"{kind} {loc[1] + 1}"
        try:
            uuid = data[loc[0]][loc[1]].get("uuid")
            if isinstance(uuid, str):
                where += f" (uuid {uuid[:36]})"
        except (AttributeError, IndexError, KeyError, TypeError):
            pass
        field = ".".join(str(part) for part in loc[2:]) or "the record"
        return f"{where}: {field}: {message}"
    return f"{'.'.join(str(part) for part in loc) or 'the file'}: {message}"


def parse_export(raw: bytes | str) -> _Export:
    """An uploaded export file, parsed and checked whole; BadExport names the first bad record."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise BadExport(f"the file is {len(raw):,} bytes; an export is at most {MAX_IMPORT_BYTES:,}")
    try:
        return _Export.model_validate_json(raw)
    except ValidationError as exc:
        try:
            data = json.loads(raw) if exc.errors()[0]["type"] != "json_invalid" else None
        except (ValueError, RecursionError):
            data = None
        raise BadExport(_first_problem(exc, data)) from None


def _validated(data: Any) -> _Export:
    if isinstance(data, _Export):
        return data
    try:
        return _Export.model_validate(data)
    except ValidationError as exc:
        raise BadExport(_first_problem(exc, data)) from None


def import_learner(data: Any, learner: str | None = None) -> ImportResult:
    """Add an export's attempts and events (to `learner`, default the exporter's name).

    `data` is the parsed JSON (or `parse_export`'s result for a file). Every record is checked
    before anything is written: one bad record refuses the whole file, naming that record.
    Attempts already stored (same uuid) are skipped; the whole import is one transaction."""
    export = _validated(data)
    learner = learner or (export.learner or "")
    if not learner:
        raise BadExport("the export names no learner")
    incoming = [
        {
            **a.model_dump(exclude={"uuid", "details"}),
            "uuid": str(uuid_lib.UUID(a.uuid)),
            "learner": learner,
            "details": a.details or {},
        }
        for a in export.attempts
    ]
    incoming_events = [
        {**e.model_dump(exclude={"uuid"}), "uuid": str(uuid_lib.UUID(e.uuid)), "learner": learner}
        for e in export.events
    ]
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


def import_file(raw: bytes | str, learner: str) -> ImportResult:
    """Import an uploaded export file (bytes as uploaded) for `learner`."""
    return import_learner(parse_export(raw), learner=learner)


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
