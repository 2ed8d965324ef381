"""Test cases for the implement drills: seeded random inputs plus the edge cases that catch real bugs.

A drill declares its cases in its bank (`cases:` in quizzes/*.yaml, described in quizzes/README.md):
each argument's kind, shape (dimensions shared between arguments), dtype and distribution, the
edge cases written out with a note saying what each checks, and the comparison. `build` turns
that and a seed into a `CaseSet`: the cases (keyword arguments and the note), what the function
returns, and the gradients to compare. Edge cases come first, so the first failing case a learner
sees is usually the instructive one (an episode that ends, a single step, zero advantages).

For the odd drill YAML cannot describe, a Python generator registered with `@generator("name")`
and named by `cases: name` still works; none of the repository's drills needs one.
Only numpy is imported at module level: torch is imported when a torch drill's cases are built.
"""

from __future__ import annotations

import ast
import contextvars
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from app.content.quiz_models import MAX_DIM, MAX_ELEMENTS, ArgSpec, CaseSpec

Returns = Literal["array", "int", "float", "tensor"]


@dataclass(frozen=True)
class Case:
    args: dict[str, Any]
    note: str
    grad: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseSet:
    cases: list[Case]
    returns: Returns
    rtol: float = 1e-5
    atol: float = 1e-6
    extra: dict[str, Any] = field(default_factory=dict)


Generator = Callable[[np.random.Generator], CaseSet]
CASE_GENERATORS: dict[str, Generator] = {}


def generator(name: str) -> Callable[[Generator], Generator]:
    def register(fn: Generator) -> Generator:
        CASE_GENERATORS[name] = fn
        return fn

    return register


def build(source: str | CaseSpec, seed: int) -> CaseSet:
    """The cases of one attempt: from a drill's declared `cases:` or from generator `source`."""
    rng = np.random.default_rng(seed)
    if isinstance(source, CaseSpec):
        return from_spec(source, rng)
    return CASE_GENERATORS[source](rng)


# ---------------------------------------------------------------------------------------------
# Cases declared in YAML (quizzes/README.md, "Coding drills")
# ---------------------------------------------------------------------------------------------

_EXPR_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sum": lambda x: np.sum(x).item(),
    "len": len,
    "max": lambda x: np.max(x).item(),
    "min": lambda x: np.min(x).item(),
    "prod": lambda x: np.prod(x).item(),
    "abs": abs,
    "int": int,
    "float": float,
}
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Div: lambda a, b: a / b,
}


class SpecError(ValueError):
    """A declared case set that cannot be drawn; the message names what is wrong."""


def evaluate(expression: str, names: dict[str, Any]) -> Any:
    """A small expression over dimensions and earlier arguments: + - * / //, sum len max min prod."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"'{expression}' does not parse: {exc.msg}") from exc

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise SpecError(f"'{node.id}' in '{expression}' is not a dimension or an earlier argument")
            return names[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _EXPR_FUNCTIONS
            and len(node.args) == 1
            and not node.keywords
        ):
            return _EXPR_FUNCTIONS[node.func.id](ev(node.args[0]))
        raise SpecError(
            f"'{ast.unparse(node)}' is not allowed in '{expression}' (numbers, names, + - * / //, "
            f"{', '.join(_EXPR_FUNCTIONS)})"
        )

    return ev(tree)


def _dim(value: int | str, dims: dict[str, int]) -> int:
    size = value if isinstance(value, int) else evaluate(value, dims)
    if not isinstance(size, int) or size < 0 or size > MAX_DIM:
        raise SpecError(f"dimension '{value}' is {size!r}; a dimension is a whole number from 0 to {MAX_DIM}")
    return size


def _dtype(spec: ArgSpec, value: Any = None) -> str:
    if spec.dtype:
        return spec.dtype
    if spec.bernoulli is not None:
        return "bool"
    if spec.integers is not None or (
        spec.choice is not None and all(isinstance(c, int) and not isinstance(c, bool) for c in spec.choice)
    ):
        return "int64"
    if spec.kind == "int":
        return "int64"
    return "float64"


def _draw(spec: ArgSpec, rng: np.random.Generator, dims: dict[str, int], drawn: dict[str, Any]) -> Any:
    shape = tuple(_dim(d, dims) for d in spec.shape)
    if math.prod(shape) > MAX_ELEMENTS:
        raise SpecError(f"shape {shape} holds {math.prod(shape)} numbers; at most {MAX_ELEMENTS}")
    names = {**dims, **{k: _plain(v) for k, v in drawn.items()}}
    size = shape or None
    if spec.uniform is not None:
        value: Any = rng.uniform(spec.uniform[0], spec.uniform[1], size=size)
    elif spec.normal is not None:
        value = rng.normal(spec.normal[0], spec.normal[1], size=size)
    elif spec.integers is not None:
        low, high = (b if isinstance(b, int) else evaluate(b, names) for b in spec.integers)
        if high < low:
            raise SpecError(f"integers: [{spec.integers[0]}, {spec.integers[1]}] is empty here ({low} > {high})")
        value = rng.integers(low, high + 1, size=size)
    elif spec.choice is not None:
        picks = rng.integers(len(spec.choice), size=size)
        value = spec.choice[int(picks)] if size is None else np.asarray(spec.choice)[picks]
    elif spec.bernoulli is not None:
        value = rng.random(size=size) < spec.bernoulli
    elif spec.simplex:
        value = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    elif spec.expr is not None:
        value = evaluate(spec.expr, names)
    else:
        value = spec.value
    if spec.plus is not None:
        if spec.plus not in drawn:
            raise SpecError(f"plus: '{spec.plus}' is not an earlier argument")
        value = np.asarray(_plain(drawn[spec.plus])) + value
    is_float = isinstance(value, float) or (isinstance(value, np.ndarray) and value.dtype.kind == "f")
    if spec.round is not None and is_float and not spec.simplex:
        value = np.round(value, spec.round)
    return value


# Set while a declaration is checked: tensor arguments are drawn as numpy arrays, so loading the
# question banks (which checks every drill's cases) never imports torch; grading draws real tensors.
_NO_TORCH: contextvars.ContextVar[bool] = contextvars.ContextVar("cases_no_torch", default=False)


def _plain(value: Any) -> Any:
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().numpy()
    return value


def convert(spec: ArgSpec, value: Any, dtype: str | None = None) -> Any:
    """A drawn or literal value as the kind the function takes; None (YAML null) stays None, for an
    optional argument (`clip_eps: null` in an edge case)."""
    if value is None:
        return None
    dtype = dtype or _dtype(spec)
    value = _plain(value)
    if spec.kind == "float":
        return float(np.asarray(value).item())
    if spec.kind == "int":
        return int(np.asarray(value).item())
    if spec.kind == "bool":
        return bool(np.asarray(value).item())
    if spec.kind == "list":
        return [float(v) for v in np.asarray(value, dtype=float).reshape(-1)]
    array = np.asarray(value, dtype=dtype)
    if spec.kind == "array" or _NO_TORCH.get():
        return array  # checking a declaration (every page load) must not import torch
    import torch

    tensor = torch.tensor(array, dtype=getattr(torch, dtype))
    return tensor.requires_grad_(spec.requires_grad)


def _literal(spec: ArgSpec, value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) - {"value", "dtype"} or "value" not in value:
            raise SpecError("an edge-case value is a literal, or {value: X, dtype: float32}")
        return convert(spec, value["value"], value.get("dtype"))
    return convert(spec, value)


def _random_args(spec: CaseSpec, rng: np.random.Generator, fixed: dict[str, Any]) -> dict[str, Any]:
    dims: dict[str, int] = {}
    for name, dim in spec.dims.items():
        if dim.value is not None:
            dims[name] = dim.value
        elif dim.choice is not None:
            dims[name] = int(dim.choice[int(rng.integers(len(dim.choice)))])
        else:
            assert dim.integers is not None
            dims[name] = int(rng.integers(dim.integers[0], dim.integers[1] + 1))
    drawn: dict[str, Any] = {name: fixed[name] for name in spec.args if name in fixed}
    pending = [name for name in spec.args if name not in fixed]
    while pending:  # an argument is drawn once the arguments it refers to are
        ready = [name for name in pending if all(r in drawn or r in dims for r in refs(spec.args[name]))]
        if not ready:
            raise SpecError(f"the arguments {', '.join(pending)} refer to each other in a circle")
        for name in ready:
            drawn[name] = _draw(spec.args[name], rng, dims, drawn)
            pending.remove(name)
    return {name: drawn[name] if name in fixed else convert(spec.args[name], drawn[name]) for name in spec.args}


def refs(arg: ArgSpec) -> list[str]:
    """The dimensions and arguments an argument's value refers to."""
    texts = [arg.expr or "", *(b for b in arg.integers or () if isinstance(b, str))]
    names = [n for text in texts for n in re.findall(r"[A-Za-z_]\w*", text) if n not in _EXPR_FUNCTIONS]
    return [*names, *([arg.plus] if arg.plus else [])]


def from_spec(spec: CaseSpec, rng: np.random.Generator) -> CaseSet:
    grad = tuple(spec.grad)
    cases = []
    for edge in spec.edge:
        unknown = [name for name in edge.args if name not in spec.args]
        if unknown:
            raise SpecError(f"edge case '{edge.note}' sets {', '.join(unknown)}, not among args")
        fixed = {}
        for name, value in edge.args.items():
            try:
                fixed[name] = _literal(spec.args[name], value)
            except (TypeError, ValueError) as exc:
                raise SpecError(f"edge case '{edge.note}': {literal_problem(spec.args[name], value, exc)}") from exc
        cases.append(Case(_random_args(spec, rng, fixed), edge.note, grad))
    for _ in range(spec.random):
        cases.append(Case(_random_args(spec, rng, {}), "random", grad))
    return CaseSet(cases, spec.returns, rtol=spec.rtol, atol=spec.atol)


def literal_problem(arg: ArgSpec, value: Any, exc: Exception) -> str:
    """Why an edge case's literal does not fit its argument, with what to write instead."""
    if isinstance(exc, SpecError):
        return str(exc)
    shape = "a list (of lists) of numbers" if arg.kind in ("array", "tensor", "list") else "one number"
    article = "an" if arg.kind in ("array", "int") else "a"
    return f"{value!r} is not {article} {arg.kind}: write {shape}, or null for an optional argument ({exc})"


def spec_problems(spec: CaseSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with a declared case set, as (location under `cases`, message)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    known_dims = set(spec.dims)
    for name, arg in spec.args.items():
        for i, dim in enumerate(arg.shape):
            if isinstance(dim, str):
                missing = [n for n in re.findall(r"[A-Za-z_]\w*", dim) if n not in known_dims]
                if missing:
                    problems.append(
                        (
                            ("args", name, "shape", i),
                            f"'{dim}' names no dimension; dims: {', '.join(spec.dims) or 'none'}",
                        )
                    )
        for ref in refs(arg):
            if ref not in spec.args and ref not in known_dims:
                problems.append((("args", name), f"'{ref}' is not a dimension or an argument"))
            elif ref == name:
                problems.append((("args", name), f"'{name}' refers to itself"))
    for i, name in enumerate(spec.grad):
        arg = spec.args.get(name)
        if arg is None or arg.kind != "tensor" or not arg.requires_grad:
            problems.append((("grad", i), f"'{name}' must be a tensor argument with requires_grad: true"))
    for i, edge in enumerate(spec.edge):
        for name in edge.args:
            if name not in spec.args:
                problems.append((("edge", i, "args", name), f"'{name}' is not among args ({', '.join(spec.args)})"))
    if problems:
        return problems
    token = _NO_TORCH.set(True)
    try:
        for i, edge in enumerate(spec.edge):
            for name, value in edge.args.items():
                try:
                    _literal(spec.args[name], value)
                except (TypeError, ValueError) as exc:
                    problems.append((("edge", i, "args", name), literal_problem(spec.args[name], value, exc)))
        if problems:
            return problems
        for seed in (0, 1):
            try:
                from_spec(spec, np.random.default_rng(seed))
            except Exception as exc:
                problems.append(((), f"drawing the cases failed (seed {seed}): {type(exc).__name__}: {exc}"))
                break
    finally:
        _NO_TORCH.reset(token)
    return problems
