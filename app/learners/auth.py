"""Who may act as whom: the auth mode, built-in accounts, invite links and expiring sessions.

`RLDOJO_AUTH` picks the mode:

- `none`: a learner is the name typed (kept in the URL as `?learner=NAME`). The default, but only
  while the server listens on localhost (`server.address` in .streamlit/config.toml): on a shared
  server anyone could type anyone's name. Set `RLDOJO_AUTH=none` explicitly to accept that.
- `oidc`: the identity provider's login (`st.login`, `[auth]` in `.streamlit/secrets.toml`).
- `builtin`: for a class without an identity provider. An instructor creates accounts and invite
  links (`python -m app.learners.auth invite NAME [--instructor]`); an invite link logs its browser
  in once, and a password (argon2-hashed, `python -m app.learners.auth password NAME`) logs in
  again. A login is a session of that browser that expires (`RLDOJO_SESSION_HOURS`, default 12).

Under any mode but `none`, `?learner=` is ignored, and the Class page needs an authenticated
instructor (an account marked instructor, or a name in `RLDOJO_INSTRUCTORS` under OIDC). Names are
normalised (`identity.normalize_learner`) and compared without case. No streamlit here.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import os
import secrets
import sys
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update

from app.learners import db
from app.learners.identity import (  # noqa: F401  (the mode is decided there, without argon2 or a database)
    AUTH_ENV,
    INSTRUCTORS_ENV,
    MODES,
    AuthConfigError,
    auth_mode,
    is_local,
    normalize_learner,
)

SESSION_HOURS_ENV = "RLDOJO_SESSION_HOURS"
INVITE_HOURS = 72.0
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("an account that does not exist")  # unknown names cost the same as wrong passwords


def session_hours() -> float:
    raw = os.environ.get(SESSION_HOURS_ENV, "").strip()
    try:
        hours = float(raw) if raw else 12.0
    except ValueError:
        raise AuthConfigError(f"{SESSION_HOURS_ENV} must be a number of hours; it is {raw!r}") from None
    if not 0 < hours <= 24 * 90:
        raise AuthConfigError(f"{SESSION_HOURS_ENV} must be between 0 and 2160 hours; it is {raw!r}")
    return hours


def _key(name: str) -> str:
    return name.casefold()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Account:
    name: str
    instructor: bool
    has_password: bool


def _clean(name: str) -> str:
    cleaned = normalize_learner(name)
    if not cleaned:
        raise ValueError(f"{name!r} is not a usable name")
    return cleaned


def account(name: str) -> Account | None:
    cleaned = normalize_learner(name)
    if not cleaned:
        return None
    with db.reading() as conn:
        row = conn.execute(select(db.accounts).where(db.accounts.c.key == _key(cleaned))).first()
    return Account(row.name, bool(row.instructor), row.password_hash is not None) if row else None


def add_account(name: str, *, instructor: bool = False, password: str | None = None) -> Account:
    """Create an account (names unique without case); an existing one keeps its name, and gains the
    instructor mark or the password when given."""
    cleaned = _clean(name)
    hashed = _hasher.hash(password) if password else None
    with db.transaction() as conn:
        row = conn.execute(select(db.accounts).where(db.accounts.c.key == _key(cleaned))).first()
        if row is None:
            conn.execute(
                insert(db.accounts).values(
                    key=_key(cleaned), name=cleaned, password_hash=hashed, instructor=instructor, created_at=time.time()
                )
            )
        else:
            values: dict[str, object] = {}
            if instructor:
                values["instructor"] = True
            if hashed:
                values["password_hash"] = hashed
            if values:
                conn.execute(update(db.accounts).where(db.accounts.c.key == row.key).values(**values))
            cleaned = row.name
    found = account(cleaned)
    assert found is not None
    return found


def create_invite(name: str, *, instructor: bool = False, hours: float = INVITE_HOURS) -> str:
    """A one-time token for `name`'s invite link (`?invite=TOKEN`); the account is created if new.
    Only the token's hash is stored."""
    holder = add_account(name, instructor=instructor)
    token = secrets.token_urlsafe(24)
    with db.transaction() as conn:
        conn.execute(
            insert(db.invites).values(
                token_hash=_digest(token), key=_key(holder.name), expires_at=time.time() + hours * 3600, used_at=None
            )
        )
    return token


def _start_session(browser: str, key: str) -> None:
    expires = time.time() + session_hours() * 3600
    with db.transaction() as conn:
        conn.execute(delete(db.sessions).where(db.sessions.c.browser == _digest(browser)))
        conn.execute(insert(db.sessions).values(browser=_digest(browser), key=key, expires_at=expires))


def redeem_invite(token: str, browser: str) -> str | None:
    """Log `browser` in with an invite token: the learner's name, or None (unknown, used, expired)."""
    now = time.time()
    with db.transaction() as conn:
        row = conn.execute(select(db.invites).where(db.invites.c.token_hash == _digest(token or ""))).first()
        if row is None or row.used_at is not None or row.expires_at < now:
            return None
        claimed = conn.execute(
            update(db.invites)
            .where(db.invites.c.token_hash == row.token_hash, db.invites.c.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        if claimed != 1:
            return None  # two tabs raced on one link: only one wins
        key = row.key
    _start_session(browser, key)
    found = _by_key(key)
    return found.name if found else None


def login(name: str, password: str, browser: str) -> str | None:
    """Log `browser` in with a password: the learner's name, or None."""
    cleaned = normalize_learner(name) or ""
    with db.reading() as conn:
        row = conn.execute(select(db.accounts).where(db.accounts.c.key == _key(cleaned))).first()
    stored = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password or "")
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or row is None or not row.password_hash:
        return None
    _start_session(browser, row.key)
    return row.name


def session(browser: str) -> Account | None:
    """The account `browser` is logged in as, None when it is not (or its session expired)."""
    with db.reading() as conn:
        row = conn.execute(select(db.sessions).where(db.sessions.c.browser == _digest(browser))).first()
    if row is None or row.expires_at < time.time():
        return None
    return _by_key(row.key)


def logout(browser: str) -> None:
    with db.transaction() as conn:
        conn.execute(delete(db.sessions).where(db.sessions.c.browser == _digest(browser)))


def _by_key(key: str) -> Account | None:
    with db.reading() as conn:
        row = conn.execute(select(db.accounts).where(db.accounts.c.key == key)).first()
    return Account(row.name, bool(row.instructor), row.password_hash is not None) if row else None


def is_authenticated_instructor(mode: str, learner: str | None) -> bool:
    """Whether `learner` (already authenticated by `mode`) may open the Class page."""
    if not learner:
        return False
    named = {n.casefold() for n in (normalize_learner(p) for p in os.environ.get(INSTRUCTORS_ENV, "").split(",")) if n}
    if mode == "builtin":
        found = account(learner)
        return found is not None and (found.instructor or found.name.casefold() in named)
    return learner.casefold() in named


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.learners.auth", description="Accounts for RLDOJO_AUTH=builtin")
    sub = parser.add_subparsers(dest="command", required=True)
    invite = sub.add_parser("invite", help="print a one-time invite link for NAME (creates the account)")
    invite.add_argument("name")
    invite.add_argument("--instructor", action="store_true", help="may open the Class page")
    invite.add_argument("--hours", type=float, default=INVITE_HOURS, help="how long the link works")
    invite.add_argument("--base-url", default="http://localhost:8501", help="the app's address")
    password = sub.add_parser("password", help="set NAME's password (asked for; creates the account)")
    password.add_argument("name")
    password.add_argument("--instructor", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "invite":
            token = create_invite(args.name, instructor=args.instructor, hours=args.hours)
            print(f"{args.base_url.rstrip('/')}/?invite={token}")
            return 0
        secret = os.environ.get("RLDOJO_PASSWORD") or getpass.getpass(f"Password for {args.name}: ")
        if len(secret) < 8:
            print("error: a password has at least 8 characters", file=sys.stderr)
            return 2
        made = add_account(args.name, instructor=args.instructor, password=secret)
        print(f"{made.name}: password set{' (instructor)' if made.instructor else ''}")
        return 0
    except (ValueError, db.DatabaseUnusable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
