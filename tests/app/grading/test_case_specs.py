"""The declared cases of a coding drill (`cases:` in a bank, app/grading/cases.py): each argument
kind, dimensions shared between arguments, dtypes, ranges, literal edge cases, the comparison,
and the Python-generator escape hatch. Independent of the repository's banks: no drill is named.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from app.content.quiz_models import CaseSpec
from app.grading import cases as case_lib
from app.grading.graders import compare
from app.grading.sandbox_runner import encode_output

SPEC = """
returns: array
dims:
  B: {integers: [2, 4]}
  T: {choice: [3, 7]}
  S: {value: 5}
args:
  x: {kind: array, shape: [B, T], uniform: [-2, 2]}
  mask: {kind: array, shape: [B, T], bernoulli: 0.5, dtype: float64}
  values: {kind: array, shape: [T + 1], normal: [0, 1], round: null}
  near: {kind: array, shape: [T + 1], normal: [0, 0.01], plus: values}
  states: {kind: array, shape: [T], integers: [0, S - 1]}
  probs: {kind: array, shape: [S, 3], simplex: true}
  ids: {kind: array, shape: [B], choice: [1, 4, 9], dtype: int32}
  gamma: {kind: float, choice: [0.5, 0.9]}
  n: {kind: int, integers: [1, 3]}
  flag: {kind: bool, bernoulli: 0.5}
  weights: {kind: list, shape: [T], uniform: [0, 1]}
  total: {kind: int, expr: "len(weights) * 2"}
  lam: {kind: float, value: 0.95}
edge:
  - note: a single step
    args: {x: [[1.0]], mask: [[1.0]], values: [0.0, 2.0], near: [0.0, 2.0], states: [4], weights: [0.5]}
  - note: float32 and an optional argument left out
    args: {x: {value: [[1.0, 2.0]], dtype: float32}, gamma: null}
random: 6
"""


def spec(text: str = SPEC, **changes) -> CaseSpec:
    data = yaml.safe_load(text)
    data.update(changes)
    return CaseSpec.model_validate(data)


def test_every_argument_kind_arrives_as_the_type_the_function_takes() -> None:
    caseset = case_lib.build(spec(), seed=0)
    assert [c.note for c in caseset.cases[:2]] == ["a single step", "float32 and an optional argument left out"]
    for case in caseset.cases[2:]:
        a = case.args
        assert case.note == "random"
        assert isinstance(a["x"], np.ndarray) and a["x"].dtype == np.float64
        assert a["ids"].dtype == np.int32 and set(a["ids"].tolist()) <= {1, 4, 9}
        assert a["states"].dtype == np.int64
        assert type(a["gamma"]) is float and a["gamma"] in (0.5, 0.9)
        assert type(a["n"]) is int and 1 <= a["n"] <= 3
        assert type(a["flag"]) is bool
        assert type(a["weights"]) is list and all(type(w) is float for w in a["weights"])
        assert a["lam"] == 0.95


def test_dimensions_are_shared_between_arguments_and_ranges_hold() -> None:
    seen_t = set()
    for seed in range(8):
        for case in case_lib.build(spec(), seed).cases[2:]:
            a = case.args
            b, t = a["x"].shape
            seen_t.add(t)
            assert 2 <= b <= 4 and t in (3, 7)
            assert a["mask"].shape == (b, t) and set(np.unique(a["mask"])) <= {0.0, 1.0}
            assert a["values"].shape == a["near"].shape == (t + 1,)
            assert np.abs(a["near"] - a["values"]).max() < 0.1  # `plus` draws near the other argument
            assert a["states"].shape == (t,) and a["states"].min() >= 0 and a["states"].max() <= 4
            assert a["probs"].shape == (5, 3) and np.allclose(a["probs"].sum(axis=1), 1.0) and a["probs"].min() >= 0
            assert a["ids"].shape == (b,)
            assert len(a["weights"]) == t and a["total"] == 2 * t
            assert a["x"].min() >= -2 and a["x"].max() <= 2
            assert np.all(a["x"] == np.round(a["x"], 3))  # drawn floats keep 3 decimals by default
    assert seen_t == {3, 7}


def test_edge_cases_are_literal_and_the_rest_is_drawn() -> None:
    first, second = case_lib.build(spec(), 0).cases[:2]
    assert first.args["x"].tolist() == [[1.0]] and first.args["states"].tolist() == [4]
    assert first.args["weights"] == [0.5]
    assert isinstance(first.args["gamma"], float)  # left out: drawn as in a random case
    assert second.args["x"].dtype == np.float32 and second.args["x"].shape == (1, 2)
    assert second.args["gamma"] is None  # YAML null: an optional argument


def test_the_cases_follow_the_seed_and_only_the_seed() -> None:
    a, b = case_lib.build(spec(), 0), case_lib.build(spec(), 1)
    assert repr(a.cases) == repr(case_lib.build(spec(), 0).cases)
    assert repr(a.cases[2:]) != repr(b.cases[2:])
    assert len(a.cases) == 2 + 6


def test_tensors_carry_dtype_and_requires_grad() -> None:
    torch = pytest.importorskip("torch")
    text = """
returns: tensor
grad: [logp]
dims: {B: {value: 4}}
args:
  logp_old: {kind: tensor, shape: [B], uniform: [-2, -0.1]}
  logp: {kind: tensor, shape: [B], normal: [0, 0.1], plus: logp_old, requires_grad: true}
  mask: {kind: tensor, shape: [B], bernoulli: 0.8, dtype: float32}
edge:
  - note: float32 log-probabilities
    args: {logp: {value: [-1.0], dtype: float32}, logp_old: {value: [-1.0], dtype: float32}, mask: [1.0]}
rtol: 1.0e-4
"""
    caseset = case_lib.build(spec(text), 0)
    assert caseset.rtol == 1e-4 and caseset.returns == "tensor"
    edge, random = caseset.cases[0], caseset.cases[-1]
    assert edge.args["logp"].dtype == torch.float32 and edge.args["logp"].requires_grad
    assert edge.grad == ("logp",)
    assert random.args["logp"].dtype == torch.float64 and random.args["logp"].shape == (4,)
    assert not random.args["logp_old"].requires_grad and random.args["mask"].dtype == torch.float32


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (
            {"args": {"x": {"kind": "array", "shape": ["N"], "uniform": [0, 1]}}},
            ("args", "x", "shape", 0),
            "'N' names no dimension",
        ),
        (
            {"args": {"x": {"kind": "float", "uniform": [0, 1]}}, "grad": ["x"]},
            ("grad", 0),
            "must be a tensor argument",
        ),
        (
            {"args": {"x": {"kind": "float", "uniform": [0, 1]}}, "edge": [{"note": "e", "args": {"y": 1}}]},
            ("edge", 0, "args", "y"),
            "'y' is not among args (x)",
        ),
        (
            {"args": {"x": {"kind": "float", "uniform": [0, 1]}}, "edge": [{"note": "e", "args": {"x": [1, 2]}}]},
            ("edge", 0, "args", "x"),
            "[1, 2] is not a float: write one number, or null for an optional argument",
        ),
        (
            {
                "args": {"x": {"kind": "array", "shape": [2], "uniform": [0, 1]}},
                "edge": [{"note": "e", "args": {"x": "abc"}}],
            },
            ("edge", 0, "args", "x"),
            "'abc' is not an array: write a list (of lists) of numbers",
        ),
    ],
)
def test_a_declaration_that_cannot_be_drawn_is_named_where_it_is_wrong(change, where, message) -> None:
    data = {"returns": "array", "edge": [{"note": "e", "args": {}}], **change}
    problems = case_lib.spec_problems(CaseSpec.model_validate(data))
    assert any(loc == where and message in text for loc, text in problems), problems


def test_a_python_generator_still_serves_the_odd_drill(monkeypatch: pytest.MonkeyPatch) -> None:
    def odd(rng: np.random.Generator) -> case_lib.CaseSet:
        return case_lib.CaseSet([case_lib.Case({"n": int(rng.integers(1, 5))}, "random")], "int")

    monkeypatch.setitem(case_lib.CASE_GENERATORS, "odd-drill", odd)
    caseset = case_lib.build("odd-drill", 3)
    assert caseset.returns == "int" and 1 <= caseset.cases[0].args["n"] <= 4


# ---------------------------------------------------------------------------------------------
# The comparison: what `returns`, rtol and atol decide
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("returns", "expected", "got", "problem"),
    [
        ("float", 2.0, 2.0, None),
        ("float", 2.0, 2, None),  # an int is a number
        ("float", 2.0, np.float32(2.0), None),
        ("float", 2.0, np.array([2.0]), "expected a float (one number), got a numpy array (call float() on it)"),
        ("float", 2.0, 2.5, "different values"),
        ("array", np.zeros(3), np.zeros(4), "expected shape (3,), got shape (4,)"),
        ("array", np.zeros((2, 3)), np.zeros(6), "expected shape (2, 3), got shape (6,)"),
        ("array", np.ones(2), np.ones(2) + 1e-9, None),
        ("array", np.ones(2), np.ones(2) + 1e-3, "different values"),
        ("int", 3, 3.0, "expected an integer (an index), got a float"),
    ],
)
def test_the_comparison(returns, expected, got, problem) -> None:
    assert compare(encode_output(expected), encode_output(got), returns, 1e-5, 1e-6) == problem


def test_a_tensor_where_a_float_is_expected_says_to_call_item() -> None:
    torch = pytest.importorskip("torch")
    problem = compare(encode_output(2.0), encode_output(torch.tensor(2.0)), "float", 1e-5, 1e-6)
    assert problem == "expected a float (one number), got a torch tensor (call .item() on it)"
