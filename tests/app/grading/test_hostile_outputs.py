"""Whatever a learner's answer produces, it is graded with a readable message and recorded.

Hypothesis draws hostile outputs (inf, -inf, nan, huge and negative integers, wrong dtypes and
shapes, None, strings, nested lists, raised exceptions, objects that cannot be serialised) and
returns them from every implement question of every bank, through the real sandbox; it types
hostile text into every predict question. Each grade must be a Grade with plain feedback, never
an exception, and must be storable as an attempt.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.grading import graders
from app.grading.bank import load_questions
from app.learners.store import read_attempts, record_attempt

QUESTIONS = load_questions()
IMPLEMENT = [q for q in QUESTIONS.by_id.values() if q.kind == "implement"]
PREDICT = [q for q in QUESTIONS.by_id.values() if q.kind == "predict"]


def _float_source(x: float) -> str:
    return f"float({str(x)!r})"  # inf and nan have no literal


_scalars = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(_float_source),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.tuples(st.sampled_from(["", "-"]), st.integers(min_value=300, max_value=6000)).map(
        lambda t: f"{t[0]}10**{t[1]}"  # beyond float range, and beyond what JSON or str() will write
    ),
    st.sampled_from(["True", "None", "'abc'", "''", "b'x'", "1j", "{'a': 1}", "set()", "..."]),
)
_nested = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"), max_leaves=8
)
_shapes = st.lists(st.integers(min_value=0, max_value=3), max_size=3).map(lambda s: repr(tuple(s)))
_fill = st.sampled_from(["0", "1.5", "float('nan')", "float('inf')", "-float('inf')", "10**6"])
_arrays = st.one_of(
    st.tuples(_shapes, _fill, st.sampled_from(["float32", "float64", "int64", "bool", "complex128", "object"])).map(
        lambda t: f"np.full({t[0]}, {t[1]}, dtype=np.{t[2]})"
    ),
    st.tuples(_shapes, _fill, st.sampled_from(["float32", "float64", "int64", "bool"])).map(
        lambda t: f"torch.full({t[0]}, {t[1]}, dtype=torch.{t[2]})"
    ),
    st.sampled_from(["np.array(['a', 'b'])", "torch.tensor(float('nan'), requires_grad=True)"]),
)
_odd = st.sampled_from(
    [
        "object()",
        "(lambda: 1)",
        "(x for x in range(3))",
        "type('Fake', (float,), {'__eq__': lambda s, o: True})(1.0)",
        "raise_(ValueError('learner bug'))",
        "raise_(KeyboardInterrupt())",
        "raise_(SystemExit(3))",
        "raise_(RecursionError())",
        "1 / 0",
        "undefined_name",
        "list(range(10**5))",
    ]
)
OUTPUTS = st.one_of(_scalars, _nested, _arrays, _odd)


def submission(function: str, expression: str) -> str:
    return (
        "import numpy as np\nimport torch\n\n\ndef raise_(exc):\n    raise exc\n\n\n"
        f"def {function}(*args, **kwargs):\n    return {expression}\n"
    )


def check_recordable(q, grade: graders.Grade, response: object) -> None:
    assert isinstance(grade, graders.Grade)
    assert isinstance(grade.feedback, str) and grade.feedback.strip()
    assert "Traceback" not in grade.feedback
    json.dumps(grade.details)  # what the page shows and stores is plain data
    record_attempt("hostile", q.id, q.kind, grade.correct, grade.score, response, details=grade.details)


@pytest.fixture(autouse=True, scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("RLDOJO_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    yield
    mp.undo()


@pytest.mark.parametrize("q", IMPLEMENT, ids=lambda q: q.id)
def test_any_output_of_an_implement_answer_is_graded_and_recorded(q, warm_sandbox) -> None:
    before = len(read_attempts(q.id, learner="hostile"))

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(expression=OUTPUTS)
    def check(expression: str) -> None:
        code = submission(q.function, expression)
        grade = graders.grade_implement(q, code, seed=0, sandbox=warm_sandbox)
        assert not grade.correct, expression
        check_recordable(q, grade, code)

    check()
    assert len(read_attempts(q.id, learner="hostile")) > before


@pytest.mark.parametrize(
    "expression,phrase",
    [
        ("float('inf')", "inf"),
        ("float('nan')", "nan"),
        ("torch.tensor(float('inf'))", "not finite"),
        ("10**400", "inf"),
        ("-(10**5000)", "-inf"),
        ("None", "NoneType"),
        ("'abc'", "str"),
        ("[[1, [2]], 3]", "not a list of numbers"),
        ("raise_(ValueError('learner bug'))", "learner bug"),
        ("object()", "object"),
    ],
)
def test_the_bradley_terry_answers_say_what_came_back(expression: str, phrase: str, warm_sandbox) -> None:
    q = QUESTIONS.by_id["bradley-terry-loss"]
    grade = graders.grade_implement(q, submission(q.function, expression), seed=0, sandbox=warm_sandbox)
    shown = grade.feedback + " " + str((grade.details.get("first_failure") or {}).get("got"))
    assert phrase in shown, shown


def test_the_naive_bradley_terry_loss_is_graded_not_crashed(warm_sandbox) -> None:
    # The very mistake the question teaches about: log(sigmoid(x)) underflows to -inf, the loss to inf.
    q = QUESTIONS.by_id["bradley-terry-loss"]
    code = (
        "import torch\n\n\ndef bradley_terry_loss(r_chosen, r_rejected):\n"
        "    return -torch.log(torch.sigmoid(r_chosen - r_rejected)).mean()\n"
    )
    grade = graders.grade_implement(q, code, seed=0, sandbox=warm_sandbox)
    assert not grade.correct
    assert grade.details["first_failure"]["got"] == "tensor(inf)"
    assert "not finite" in grade.feedback


_answers = st.one_of(
    st.text(max_size=40),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["inf", "-inf", "nan", "1e999", "9" * 5000, "[[1, [2]], 3]", "[]", ",,,", "0x10", "None"]),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6).map(lambda xs: ", ".join(map(str, xs))),
)


@pytest.mark.parametrize("q", PREDICT, ids=lambda q: q.id)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(text=_answers)
def test_any_text_typed_into_a_predict_question_is_graded(q, text: str) -> None:
    grade = graders.grade_predict(q, 0, text)
    check_recordable(q, grade, text)
