"""Who is answering: a learner's name, and who is an instructor.

A learner is a name typed on the first visit (kept in the URL as `?learner=NAME`), or, where the
deployment configures OIDC (`[auth]` in `.streamlit/secrets.toml`), the e-mail of the logged-in
user. Names are not passwords: on a shared deployment, configure OIDC. Instructors are listed in
`RLDOJO_INSTRUCTORS` (comma-separated names or e-mails, compared without case); only they see the
Class page, the one place where one person sees other learners' answers.
"""

from __future__ import annotations

import os
import re

INSTRUCTORS_ENV = "RLDOJO_INSTRUCTORS"
MAX_NAME = 60


def normalize_learner(name: str | None) -> str | None:
    """The name as stored: printable, single-spaced, at most 60 characters; None when empty."""
    if not name:
        return None
    text = re.sub(r"[\x00-\x1f\x7f]", "", str(name))
    text = " ".join(text.split())[:MAX_NAME].strip()
    return text or None


def instructors() -> set[str]:
    raw = os.environ.get(INSTRUCTORS_ENV, "")
    return {n.casefold() for n in (normalize_learner(part) for part in raw.split(",")) if n}


def is_instructor(learner: str | None) -> bool:
    return bool(learner) and learner.casefold() in instructors()  # type: ignore[union-attr]
