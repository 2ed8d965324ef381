"""Code references: `module:qualname` or `module:qualname#region`, into `algorithms/`.

A lesson names code instead of pasting it, so the page always shows the code that runs.
References are resolved by reading and parsing the source file (no import), so a page
reload after editing an algorithm shows the new code at once.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from app.content.filecache import cached
from app.settings import ROOT

ALLOWED_PACKAGE = "algorithms"

_REF = re.compile(
    r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<qualname>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)"
    r"(?:#(?P<region>[A-Za-z0-9_-]+))?$"
)
_MARKER = re.compile(r"^\s*#\s*lesson:(?P<kind>start|end)\s+(?P<name>[A-Za-z0-9_-]+)\s*$")


class CodeRefError(ValueError):
    """A code reference that does not resolve; the message says what is missing."""


@dataclass(frozen=True)
class CodeRef:
    module: str
    qualname: str
    region: str | None = None

    @classmethod
    def parse(cls, text: str) -> CodeRef:
        match = _REF.match(text.strip())
        if not match:
            raise CodeRefError(
                f"'{text}' is not a code reference: expected 'module:qualname' or "
                "'module:qualname#region', e.g. 'algorithms.returns:discounted_returns#backward-recursion'"
            )
        return cls(match["module"], match["qualname"], match["region"])

    def __str__(self) -> str:
        return f"{self.module}:{self.qualname}" + (f"#{self.region}" if self.region else "")


@dataclass(frozen=True)
class CodeSnippet:
    """Lines of real source, each with its real line number; lesson markers removed."""

    ref: CodeRef
    path: str  # relative to the repository root, with forward slashes
    lines: tuple[tuple[int, str], ...]  # (line number, text), dedented together

    @property
    def first_line(self) -> int:
        return self.lines[0][0]

    @property
    def last_line(self) -> int:
        return self.lines[-1][0]

    @property
    def text(self) -> str:
        return "\n".join(text for _, text in self.lines)


def module_path(module: str, root: Path = ROOT) -> Path:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise CodeRefError(f"module '{module}' not found (looked for {base.relative_to(root)}.py)")


def resolve(ref: CodeRef | str, root: Path = ROOT) -> CodeSnippet:
    """Find the referenced definition (and region) in the source; raise CodeRefError if absent."""
    if isinstance(ref, str):
        ref = CodeRef.parse(ref)
    if ref.module.split(".")[0] != ALLOWED_PACKAGE:
        raise CodeRefError(f"module '{ref.module}' is outside '{ALLOWED_PACKAGE}/': lessons show our algorithms only")
    path = module_path(ref.module, root)
    source, tree = _parsed(path)
    if isinstance(tree, SyntaxError):
        raise CodeRefError(f"{path.relative_to(root)} does not parse: {tree.msg} (line {tree.lineno})")

    node: ast.AST = tree
    for depth, name in enumerate(ref.qualname.split(".")):
        found = _find_definition(node, name)
        if found is None:
            where = ref.module if depth == 0 else ".".join(ref.qualname.split(".")[:depth])
            raise CodeRefError(f"'{name}' is not defined in {where} ({path.relative_to(root)})")
        node = found
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    end = node.end_lineno or node.lineno
    all_lines = source.splitlines()
    # The AST ends at the last statement; comments indented under the definition (a region's end
    # marker after a `return`, say) still belong to it.
    indent = len(all_lines[node.lineno - 1]) - len(all_lines[node.lineno - 1].lstrip())
    while end < len(all_lines):
        following = all_lines[end]
        stripped = following.lstrip()
        if stripped and not (stripped.startswith("#") and len(following) - len(stripped) > indent):
            break
        end += 1
    numbered = [(number, all_lines[number - 1]) for number in range(start, end + 1)]

    if ref.region is not None:
        try:
            numbered = _region(numbered, ref)
        except CodeRefError as exc:
            if "not found" not in str(exc):
                raise
            in_file = regions_in(path)
            inside = [name for name in in_file if any(_is_marker(t, "start", name) for _, t in numbered)]
            known = f"regions in {ref.module}:{ref.qualname}: {', '.join(inside) or 'none'}"
            elsewhere = [name for name in in_file if name not in inside]
            if elsewhere:
                known += f"; elsewhere in {path.relative_to(root).as_posix()}: {', '.join(elsewhere)}"
            raise CodeRefError(f"{exc}; {known}") from None
    numbered = [(n, text) for n, text in numbered if not _MARKER.match(text)]
    while numbered and not numbered[-1][1].strip():
        numbered.pop()
    if not numbered:
        raise CodeRefError(f"{ref} resolves to no code")
    dedented = textwrap.dedent("\n".join(text for _, text in numbered)).split("\n")
    lines = tuple((n, text) for (n, _), text in zip(numbered, dedented, strict=True))
    return CodeSnippet(ref=ref, path=path.relative_to(root).as_posix(), lines=lines)


def _parsed(path: Path) -> tuple[str, ast.Module | SyntaxError]:
    """The file's source and syntax tree (or its SyntaxError), parsed once while it is unchanged:
    a catalogue resolves hundreds of references into a few dozen files. Callers only read the tree."""

    def parse() -> tuple[str, ast.Module | SyntaxError]:
        source = path.read_text(encoding="utf-8")
        try:
            return source, ast.parse(source, filename=str(path))
        except SyntaxError as exc:
            return source, exc

    return cached("python-ast", path, parse)


def _find_definition(node: ast.AST, name: str) -> ast.AST | None:
    for child in getattr(node, "body", []):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and child.name == name:
            return child
    return None


def _region(numbered: list[tuple[int, str]], ref: CodeRef) -> list[tuple[int, str]]:
    starts = [i for i, (_, text) in enumerate(numbered) if _is_marker(text, "start", ref.region)]
    ends = [i for i, (_, text) in enumerate(numbered) if _is_marker(text, "end", ref.region)]
    where = f"{ref.module}:{ref.qualname}"
    if not starts:
        raise CodeRefError(f"region '{ref.region}' not found in {where} (mark it with '# lesson:start {ref.region}')")
    if len(starts) > 1:
        lines = ", ".join(str(numbered[i][0]) for i in starts)
        raise CodeRefError(f"region '{ref.region}' starts more than once in {where} (lines {lines})")
    if len(ends) != 1 or ends[0] < starts[0]:
        raise CodeRefError(
            f"region '{ref.region}' in {where} needs exactly one '# lesson:end {ref.region}' after its start"
        )
    return numbered[starts[0] + 1 : ends[0]]


def _is_marker(text: str, kind: str, name: str | None) -> bool:
    match = _MARKER.match(text)
    return bool(match) and match["kind"] == kind and match["name"] == name


def regions_in(path: Path) -> dict[str, list[int]]:
    """Every region name in a file with the lines where it starts (to check names are unique)."""
    found: dict[str, list[int]] = {}
    for number, text in enumerate(_parsed(path)[0].splitlines(), start=1):
        match = _MARKER.match(text)
        if match and match["kind"] == "start":
            found.setdefault(match["name"], []).append(number)
    return found


@dataclass(frozen=True)
class Parameters:
    """The parameters of a function as its source declares them (no import)."""

    names: tuple[str, ...]
    required: frozenset[str]
    var_keyword: bool = False

    def mismatch(self, given: Iterable[str]) -> str:
        """What is wrong with calling the function with keyword arguments `given` ('' if nothing)."""
        given = list(given)
        out = []
        unknown = [name for name in given if name not in self.names]
        if unknown and not self.var_keyword:
            out.append(f"{_quoted(unknown)} {'is' if len(unknown) == 1 else 'are'} not among its parameters")
        missing = sorted(self.required - set(given), key=self.names.index)
        if missing:
            out.append(f"the required {_quoted(missing)} {'is' if len(missing) == 1 else 'are'} not given")
        return "; ".join(out)

    def __str__(self) -> str:
        return "(" + ", ".join(self.names) + (", **kwargs" if self.var_keyword else "") + ")"


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def parameters_of(node: ast.FunctionDef | ast.AsyncFunctionDef) -> Parameters:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    with_default = {a.arg for a in positional[len(positional) - len(args.defaults) :]} if args.defaults else set()
    keyword_defaults = {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None}
    names = tuple(a.arg for a in [*positional, *args.kwonlyargs])
    required = frozenset(n for n in names if n not in with_default and n not in keyword_defaults)
    return Parameters(names, required, args.kwarg is not None)


def function_parameters(ref: CodeRef | str, root: Path = ROOT) -> Parameters:
    """Parameters of the function a reference names; CodeRefError if it is not a function."""
    if isinstance(ref, str):
        ref = CodeRef.parse(ref)
    resolve(ref, root)  # same errors as a code block
    node: ast.AST | None = _parsed(module_path(ref.module, root))[1]
    for name in ref.qualname.split("."):
        node = _find_definition(node, name) if node is not None else None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise CodeRefError(f"{ref} is not a function")
    return parameters_of(node)


def defined_function(source: str, name: str) -> Parameters | None:
    """Parameters of top-level function `name` in `source`; None if absent. SyntaxError propagates."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return parameters_of(node)
    return None
