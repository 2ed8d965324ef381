"""A reference implementation as a learner would submit it: one self-contained module.

Tests and the benchmark submit the reference itself through the sandbox (where algorithms/ cannot
be imported), so this module copies the reference function's source together with what it uses:
the helper functions of its module, functions it imports from other algorithms modules, and the
third-party imports (numpy, torch). Found by parsing, like lessons' code references.
"""

from __future__ import annotations

import ast

from app.content.coderef import module_path
from app.content.quiz_models import ImplementQuestion
from app.settings import ROOT


def _module_tree(module: str) -> tuple[str, ast.Module]:
    source = module_path(module, ROOT).read_text(encoding="utf-8")
    return source, ast.parse(source)


def _collect(module: str, name: str, imports: list[str], defs: list[str], seen: set[tuple[str, str]]) -> None:
    if (module, name) in seen:
        return
    seen.add((module, name))
    source, tree = _module_tree(module)
    top = {}
    imported: dict[str, tuple[str, str]] = {}  # local name -> (algorithms module, name)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            top[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    top[target.id] = node
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("algorithms"):
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            text = ast.get_source_segment(source, node) or ""
            if "algorithms" not in text and text not in imports:
                imports.append(text)
    node = top[name]
    used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    for other in sorted(used):
        if other in top and other != name:
            _collect(module, other, imports, defs, seen)
        elif other in imported:
            _collect(imported[other][0], imported[other][1], imports, defs, seen)
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    defs.append("\n".join(source.splitlines()[start - 1 : node.end_lineno]))


def reference_solution(q: ImplementQuestion) -> str:
    module, _, name = q.reference.partition(":")
    imports: list[str] = []
    defs: list[str] = []
    _collect(module, name, imports, defs, set())
    future = [i for i in imports if i.startswith("from __future__")]
    rest = [i for i in imports if not i.startswith("from __future__")]
    body = "\n".join([*future, *rest, "", *defs]) + "\n"
    if name == q.function:
        return body
    # The learner's name may also be a helper the reference calls (reinforce_loss): keep them apart.
    return (
        f"_reference = {{}}\nexec(compile({body!r}, '<reference>', 'exec'), _reference)\n"
        f"{q.function} = _reference[{name!r}]\n"
    )
