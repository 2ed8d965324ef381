"""The optional LLM judge, against a small OpenAI-compatible server started here."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from app.content.quiz_models import RubricPoint
from app.grading import graders, judge, semantic
from app.grading.bank import Questions

POINTS = [
    RubricPoint(point="Keeps the return finite", accept=["finite"]),
    RubricPoint(point="Near 0 the agent is myopic", accept=["myopic"]),
]
ANSWER = "Discounting keeps the sum bounded. With gamma near zero the agent only looks one step ahead."


class Fake:
    mode = "good"
    requests: ClassVar[list[dict]] = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        verdicts = {
            "points": [
                {"index": 1, "verdict": "hit", "quote": "Discounting keeps the sum bounded.", "why": "bounded"},
                {"index": 2, "verdict": "contradicted", "quote": "the agent only looks one step ahead", "why": "x"},
            ]
        }
        message: dict = {"role": "assistant", "content": "```json\n" + json.dumps(verdicts) + "\n```"}
        if Fake.mode == "malformed":
            message["content"] = '{"points": [{"index": 1, "verdict": "maybe"}]}'
        elif Fake.mode == "misquote":
            verdicts["points"][0]["quote"] = "A sentence the learner never wrote."
            message["content"] = json.dumps(verdicts)
        elif Fake.mode == "refusal":
            message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
        elif Fake.mode == "timeout":
            time.sleep(1.5)
        elif Fake.mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        data = json.dumps({"choices": [{"index": 0, "message": message}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def _config(url: str) -> judge.JudgeConfig:
    return judge.JudgeConfig(url=url, model="tiny-judge", key="sk-test", timeout=0.5)


def test_a_good_reply_gives_a_verdict_per_point(server: str) -> None:
    Fake.mode, Fake.requests = "good", []
    result = judge.judge(_config(server), "Why discount?", POINTS, ANSWER)
    assert result is not None and result.grader == "judge"
    assert result.hit == [POINTS[0].point]
    assert result.contradicted == [
        {"point": POINTS[1].point, "sentence": "the agent only looks one step ahead", "why": "x"}
    ]
    (request,) = Fake.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "tiny-judge"
    user = request["body"]["messages"][1]["content"]
    # The prompt carries the question, the rubric and this answer only.
    rubric = f"1. {POINTS[0].point}\n2. {POINTS[1].point}"
    assert user == f"Question:\nWhy discount?\n\nRubric points:\n{rubric}\n\nAnswer:\n{ANSWER}"


@pytest.mark.parametrize("mode", ["malformed", "misquote", "refusal", "timeout", "error"])
def test_a_bad_reply_returns_none(server: str, mode: str) -> None:
    Fake.mode = mode
    start = time.monotonic()
    assert judge.judge(_config(server), "Why discount?", POINTS, ANSWER) is None
    assert time.monotonic() - start < 1.4  # the timeout holds


def test_nothing_listening_returns_none() -> None:
    assert judge.judge(_config("http://127.0.0.1:9/v1"), "Q", POINTS, ANSWER) is None


def test_the_grader_uses_the_judge_and_falls_back_offline(
    server: str, questions: Questions, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = questions.get("discount-factor")
    monkeypatch.setenv("RLDOJO_JUDGE_URL", server)
    monkeypatch.setenv("RLDOJO_JUDGE_MODEL", "tiny-judge")
    monkeypatch.setenv("RLDOJO_JUDGE_TIMEOUT", "0.5")
    answer = q.model_answer
    verdicts = [{"index": i, "verdict": "hit", "quote": answer.split(".")[0]} for i in range(1, len(q.rubric) + 1)]
    Fake.mode = "good"
    monkeypatch.setattr(Handler, "do_POST", _replying(verdicts))
    assert graders.grade_explain(q, answer).details["grader"] == "judge"
    monkeypatch.setattr(Handler, "do_POST", _replying(None))  # malformed: offline grader
    grade = graders.grade_explain(q, answer)
    assert grade.details["grader"] == ("semantic" if semantic.available() else "keyword") and grade.correct


def _replying(verdicts: list[dict] | None):  # type: ignore[no-untyped-def]
    def do_post(self: Handler) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        content = json.dumps({"points": verdicts}) if verdicts is not None else "not json"
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    return do_post


def test_config_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RLDOJO_JUDGE_URL", raising=False)
    assert judge.JudgeConfig.from_env() is None
    monkeypatch.setenv("RLDOJO_JUDGE_URL", "http://h/v1/chat/completions")
    monkeypatch.setenv("RLDOJO_JUDGE_MODEL", "m")
    monkeypatch.setenv("RLDOJO_JUDGE_TIMEOUT", "soon")
    config = judge.JudgeConfig.from_env()
    assert config is not None and config.endpoint == "http://h/v1/chat/completions" and config.timeout == 20.0
