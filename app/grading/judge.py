"""An optional LLM judge for rubric points, over any OpenAI-compatible chat-completions endpoint.

Set `RLDOJO_JUDGE_URL` (the API base, e.g. `http://localhost:8000/v1` for vLLM, `http://localhost:11434/v1`
for Ollama; `/chat/completions` is added unless the URL already ends with it) and `RLDOJO_JUDGE_MODEL`;
`RLDOJO_JUDGE_KEY` is sent as a bearer token when set, `RLDOJO_JUDGE_TIMEOUT` is in seconds (default 20).
The prompt carries the question, the rubric points and this one answer, nothing else (no learner
name, no other answer). The reply must be a JSON verdict per point, validated with pydantic; every
quoted sentence must come from the answer. On any failure (no reply in time, an HTTP error, a
refusal, malformed JSON, a verdict that does not fit) `judge()` returns None and the caller falls
back to the offline grader (app/grading/semantic.py).
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.content.quiz_models import RubricPoint
from app.grading.semantic import PointsResult, PointVerdict

log = logging.getLogger(__name__)

SYSTEM = (
    "You grade a learner's free-text answer to a reinforcement-learning interview question against a rubric. "
    "Decide each rubric point by meaning, not by the words used: 'hit' when a sentence of the answer states the "
    "point (in any words), 'contradicted' when a sentence states the opposite (a negation, swapped roles, the "
    "wrong direction), 'missed' otherwise. A list of keywords without a claim states nothing. Reply with JSON "
    'only: {"points": [{"index": 1, "verdict": "hit" | "missed" | "contradicted", "quote": "the sentence of the '
    'answer, copied exactly, or empty when missed", "why": "one short clause"}]}, one entry per rubric point, '
    "in order."
)


@dataclass(frozen=True)
class JudgeConfig:
    url: str
    model: str
    key: str | None = None
    timeout: float = 20.0

    @classmethod
    def from_env(cls) -> JudgeConfig | None:
        url, model = os.environ.get("RLDOJO_JUDGE_URL", "").strip(), os.environ.get("RLDOJO_JUDGE_MODEL", "").strip()
        if not url or not model:
            return None
        try:
            timeout = float(os.environ.get("RLDOJO_JUDGE_TIMEOUT", "20"))
        except ValueError:
            log.warning("RLDOJO_JUDGE_TIMEOUT is not a number; using 20 seconds")
            timeout = 20.0
        return cls(url, model, os.environ.get("RLDOJO_JUDGE_KEY") or None, timeout)

    @property
    def endpoint(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else url + "/chat/completions"


class PointJudgement(BaseModel):
    model_config = ConfigDict(extra="ignore")
    index: int = Field(ge=1)
    verdict: Literal["hit", "missed", "contradicted"]
    quote: str = ""
    why: str = ""


class Judgement(BaseModel):
    model_config = ConfigDict(extra="ignore")
    points: list[PointJudgement]


def messages(question: str, points: list[RubricPoint], answer: str) -> list[dict[str, str]]:
    rubric = "\n".join(f"{i}. {p.point}" for i, p in enumerate(points, 1))
    user = f"Question:\n{question.strip()}\n\nRubric points:\n{rubric}\n\nAnswer:\n{answer.strip()}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def parse(content: str, points: list[RubricPoint], answer: str) -> PointsResult:
    """The verdict of a reply's content; ValueError when it does not fit the rubric and the answer."""
    match = re.search(r"\{.*\}", content, re.DOTALL)  # tolerate ```json fences around the object
    if match is None:
        raise ValueError("the reply has no JSON object")
    try:
        judgement = Judgement.model_validate_json(match.group(0))
    except ValidationError as exc:
        raise ValueError(f"the reply does not match the verdict schema: {exc.errors()[0]['msg']}") from exc
    by_index = {p.index: p for p in judgement.points}
    if sorted(by_index) != list(range(1, len(points) + 1)):
        raise ValueError(f"expected verdicts for points 1..{len(points)}, got {sorted(by_index)}")
    verdicts = []
    for i, point in enumerate(points, 1):
        j = by_index[i]
        quote = j.quote.strip().strip('"“”')
        if j.verdict != "missed" and (not quote or _squash(quote) not in _squash(answer)):
            raise ValueError(f"point {i}: the quoted sentence is not in the answer")
        verdicts.append(PointVerdict(point.point, j.verdict, quote or None, 1.0, j.why))
    return PointsResult(verdicts, grader="judge")


def judge(config: JudgeConfig, question: str, points: list[RubricPoint], answer: str) -> PointsResult | None:
    """Ask the judge; None on any failure (the caller falls back to the offline grader)."""
    body = {"model": config.model, "messages": messages(question, points, answer), "temperature": 0}
    headers = {"Content-Type": "application/json"}
    if config.key:
        headers["Authorization"] = f"Bearer {config.key}"
    request = urllib.request.Request(config.endpoint, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=config.timeout) as response:
            reply = json.loads(response.read().decode("utf-8"))
        message = reply["choices"][0]["message"]
        if message.get("refusal"):
            raise ValueError(f"the judge refused: {message['refusal']}")
        return parse(message.get("content") or "", points, answer)
    except (OSError, urllib.error.URLError, TimeoutError, ValueError, KeyError, IndexError, TypeError) as exc:
        log.warning("LLM judge at %s failed (%s); grading offline", config.endpoint, exc)
        return None
