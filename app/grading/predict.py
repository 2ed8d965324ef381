"""Predict questions: parameters drawn per attempt from a seed, the answer key computed by the reference.

Nothing numeric is stored in a bank: `answer_from` names a function in algorithms/ and its
arguments, and the key is whatever that function returns on this attempt's parameters. When an
algorithm changes, its answer keys change with it.
"""

from __future__ import annotations

import ast
import importlib
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from app.content.quiz_models import (
    ChoiceParam,
    IntegersParam,
    NextStatesParam,
    PredictQuestion,
    UniformParam,
    ValueParam,
)

AnswerKind = Literal["int", "float", "array"]
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")
_FUNCTIONS = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}


@dataclass(frozen=True)
class PredictInstance:
    prompt: str
    params: dict[str, Any]
    expected: Any  # int, float or np.ndarray
    answer_kind: AnswerKind


def rng_for(question_id: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(question_id.encode())])


def draw_params(q: PredictQuestion, seed: int) -> dict[str, Any]:
    rng = rng_for(q.id, seed)
    out: dict[str, Any] = {}
    for name, spec in q.params.items():
        size = tuple(spec.size) if isinstance(spec.size, list) else spec.size
        if isinstance(spec, UniformParam):
            value: Any = np.round(rng.uniform(spec.uniform[0], spec.uniform[1], size=size), spec.round)
        elif isinstance(spec, IntegersParam):
            value = rng.integers(spec.integers[0], spec.integers[1] + 1, size=size)
        elif isinstance(spec, ChoiceParam):
            value = spec.choice[int(rng.integers(len(spec.choice)))]
        elif isinstance(spec, ValueParam):
            value = spec.value
        elif isinstance(spec, NextStatesParam):
            S, A = spec.next_states.states, spec.next_states.actions
            P = np.zeros((S, A, S))
            P[np.arange(S)[:, None], np.arange(A)[None, :], rng.integers(0, S, size=(S, A))] = 1.0
            value = P
        else:  # pragma: no cover - the schema admits no other kind
            raise TypeError(spec)
        if isinstance(value, list):
            value = np.asarray(value, dtype=float)
        elif isinstance(value, np.generic):
            value = value.item()
        out[name] = value
    return out


def _resolve(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\$[A-Za-z_]\w*", value):
        return params[value[1:]]
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "array":  # integers stay integers (indices); anything else becomes float
            array = np.asarray(_resolve(inner, params))
            return array if array.dtype.kind in "iu" else array.astype(float)
        if key == "tensor":
            import torch

            return torch.tensor(np.asarray(_resolve(inner, params), dtype=float), dtype=torch.float64)
        if key == "expr":
            return evaluate(str(inner), params)
        if key == "int":
            return int(_resolve(inner, params))
    if isinstance(value, list):
        return [_resolve(v, params) for v in value]
    return value


def evaluate(expression: str, params: dict[str, Any]) -> Any:
    """A small arithmetic language for arguments: numbers, $params, + - * / **, log exp sqrt abs."""
    tree = ast.parse(expression.replace("$", ""), mode="eval")

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.Name) and node.id in params:
            return params[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            return -ev(node.operand) if isinstance(node.op, ast.USub) else ev(node.operand)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div | ast.Pow):
            left, right = ev(node.left), ev(node.right)
            ops = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: np.power}
            return ops[type(node.op)](left, right)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and len(node.args) == 1
            and not node.keywords
        ):
            return _FUNCTIONS[node.func.id](ev(node.args[0]))
        if isinstance(node, ast.List):
            return np.asarray([ev(e) for e in node.elts], dtype=float)
        raise ValueError(
            f"'{ast.unparse(node)}' is not allowed in an expr (numbers, $params, + - * / **, log exp sqrt)"
        )

    return ev(tree)


def call_reference(ref: str, kwargs: dict[str, Any]) -> Any:
    module_name, _, function_name = ref.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    return function(**kwargs)


def _plain(result: Any) -> tuple[Any, AnswerKind]:
    if type(result).__module__.startswith("torch"):
        result = result.detach().cpu().numpy()
    if isinstance(result, bool | np.bool_):
        return int(result), "int"
    if isinstance(result, int | np.integer):
        return int(result), "int"
    array = np.asarray(result, dtype=float)
    if array.ndim == 0 or (array.size == 1 and array.ndim <= 1 and not isinstance(result, list | tuple)):
        return float(array.reshape(-1)[0]), "float"
    return array, "array"


def instance(q: PredictQuestion, seed: int) -> PredictInstance:
    params = draw_params(q, seed)
    kwargs = {name: _resolve(value, params) for name, value in q.answer_from.args.items()}
    result = call_reference(q.answer_from.call, kwargs)
    index = q.answer_from.index
    if index is not None:
        for i in [index] if isinstance(index, int) else index:
            result = result[i]
    expected, kind = _plain(result)
    if q.answer_from.scale != 1.0:
        expected = expected * q.answer_from.scale if kind != "int" else int(expected * q.answer_from.scale)
    formats = {name: spec.format for name, spec in q.params.items()}
    prompt = _PLACEHOLDER.sub(lambda m: format_value(params[m[1]], formats[m[1]]), q.prompt)
    return PredictInstance(prompt, params, expected, kind)


# ---------------------------------------------------------------------------------------------
# Showing numbers and reading answers
# ---------------------------------------------------------------------------------------------


def number(x: Any) -> str:
    """A number as a learner reads it: integers whole, floats to 6 significant digits, inf and nan named.

    Never raises on a number, however large or non-finite (a learner's output can be anything)."""
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    if isinstance(x, int | np.integer):
        x = int(x)
        if abs(x) < 10**15:
            return str(x)
        try:
            return f"{float(x):.6g}"
        except OverflowError:  # beyond float range (and str() refuses ints of over 4300 digits)
            sign = "a negative" if x < 0 else "an"
            return f"{sign} integer of about {int(x.bit_length() * math.log10(2)) + 1} digits"
    try:
        x = float(x)
    except (TypeError, ValueError, OverflowError):
        return repr(x)[:80]
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e12:
        return str(int(x))
    return f"{x:.6g}"


def format_value(value: Any, fmt: str = "auto") -> str:
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    if array.ndim == 0:
        return number(array.item())
    if fmt == "next-states" and array.ndim == 3:
        S, A, _ = array.shape
        head = "| state | " + " | ".join(f"action {a} leads to" for a in range(A)) + " |"
        rule = "|---|" + "---|" * A
        rows = [
            f"| {s} | " + " | ".join(f"state {int(np.argmax(array[s, a]))}" for a in range(A)) + " |" for s in range(S)
        ]
        return "\n\n" + "\n".join([head, rule, *rows]) + "\n\n"
    if fmt == "table" and array.ndim == 2:
        rows_n, cols_n = array.shape
        head = "| | " + " | ".join(f"a = {a}" for a in range(cols_n)) + " |"
        rule = "|---|" + "---|" * cols_n
        rows = [f"| s = {s} | " + " | ".join(number(v) for v in array[s]) + " |" for s in range(rows_n)]
        return "\n\n" + "\n".join([head, rule, *rows]) + "\n\n"
    return _nested(array)


def _nested(array: np.ndarray) -> str:
    if array.ndim == 1:
        return "[" + ", ".join(number(v) for v in array) + "]"
    return "[" + ", ".join(_nested(row) for row in array) + "]"


def format_answer(expected: Any) -> str:
    return format_value(expected)


def parse_answer(text: str, kind: AnswerKind) -> Any:
    """The learner's typed answer as a number or an array; ValueError with a readable message."""
    cleaned = text.strip().replace("[", " ").replace("]", " ").replace(";", ",")
    if not cleaned:
        raise ValueError("type a number" if kind != "array" else "type numbers separated by commas")
    parts = [p for p in re.split(r"[,\s]+", cleaned) if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not _is_number(p))
        raise ValueError(f"'{bad}' is not a number") from None
    if kind == "array":
        return np.asarray(values)
    if len(values) != 1:
        raise ValueError("the answer is a single number")
    return values[0]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def close_enough(got: Any, expected: Any, kind: AnswerKind, tolerance: float) -> bool:
    if kind == "int":
        return float(got) == float(expected)
    got_a, exp_a = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    if got_a.shape != exp_a.shape:
        return False
    return bool(np.all(np.abs(got_a - exp_a) <= tolerance + 1e-12)) and not np.any(np.isnan(got_a))


def is_finite(value: Any) -> bool:
    return bool(np.all(np.isfinite(np.asarray(value, dtype=float)))) if not isinstance(value, str) else False


__all__ = ["PredictInstance", "close_enough", "format_answer", "instance", "math", "parse_answer"]
