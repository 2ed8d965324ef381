"""Who is answering: a learner's name, and who is an instructor.

A learner is a name typed on the first visit (kept in the URL as `?learner=NAME`), or, where the
deployment configures OIDC (`[auth]` in `.streamlit/secrets.toml`), the e-mail of the logged-in
user. Names are not passwords: on a shared deployment, configure OIDC. Instructors are listed in
`RLDOJO_INSTRUCTORS` (comma-separated names or e-mails, compared without case); only they see the
Class page, the one place where one person sees other learners' answers.

Before a name is given, a browser's answers and runs are kept under an anonymous key of that
browser (`~browser:` and a hash), which no typed name can produce (names never start with `~`);
when a name is first given, they move to it (`store.claim_anonymous`). `local` is the name
older versions gave every anonymous answer: reserved too, and never listed as a person.
"""

from __future__ import annotations

import os
import re

INSTRUCTORS_ENV = "RLDOJO_INSTRUCTORS"
MAX_NAME = 60
ANONYMOUS_PREFIX = "~browser:"
LEGACY_ANONYMOUS = "local"


def normalize_learner(name: str | None) -> str | None:
    """The name as stored: printable, single-spaced, at most 60 characters, never starting with
    `~` (kept for anonymous browsers) and never `local`; None when nothing is left."""
    if not name:
        return None
    text = re.sub(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]", "", str(name))
    text = " ".join(text.split()).lstrip("~ ")[:MAX_NAME].strip()
    if text.casefold() == LEGACY_ANONYMOUS:
        return None
    return text or None


def anonymous_key(browser: str) -> str:
    """Where a browser's answers and runs are kept until a name is given."""
    return ANONYMOUS_PREFIX + browser


def is_anonymous(learner: str) -> bool:
    return learner == LEGACY_ANONYMOUS or learner.startswith(ANONYMOUS_PREFIX)


def instructors() -> set[str]:
    raw = os.environ.get(INSTRUCTORS_ENV, "")
    return {n.casefold() for n in (normalize_learner(part) for part in raw.split(",")) if n}


def is_instructor(learner: str | None) -> bool:
    return bool(learner) and learner.casefold() in instructors()  # type: ignore[union-attr]


AUTH_ENV = "RLDOJO_AUTH"
MODES = ("none", "oidc", "builtin")
LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1", "[::1]")


class AuthConfigError(ValueError):
    """The auth settings cannot be used as they are; the message says what to set."""


def is_local(address: str | None) -> bool:
    return (address or "").strip().lower() in LOCAL_ADDRESSES


def auth_mode(server_address: str | None, oidc_configured: bool = False) -> str:
    """The mode in force (`app.learners.auth` explains each), given the address the server listens on
    (None or "": every interface) and whether `[auth]` (OIDC) is in the secrets. Unset, it is `oidc`
    where OIDC is configured, else `none`, but only on localhost: elsewhere an error says what to set."""
    raw = os.environ.get(AUTH_ENV, "").strip().lower()
    if raw and raw not in MODES:
        raise AuthConfigError(f"{AUTH_ENV} must be one of {', '.join(MODES)}; it is {raw!r}")
    if raw:
        return raw
    if oidc_configured:
        return "oidc"
    if is_local(server_address):
        return "none"
    where = server_address or "every network interface"
    raise AuthConfigError(
        f"This server listens on {where} and {AUTH_ENV} is not set. Without a login anyone who reaches it "
        f"could open any learner's answers: set {AUTH_ENV}=builtin (accounts and invite links) or "
        f"{AUTH_ENV}=oidc (your identity provider), listen on localhost, or set {AUTH_ENV}=none to accept that."
    )
