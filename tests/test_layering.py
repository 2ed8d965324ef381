"""The shape of the code, read from the AST (imports inside functions included, so a lazy import cannot
hide a cycle): algorithms/ imports nothing of ours; only app/views (the pages) and app/widgets may import
streamlit; no two of our modules import each other, directly or round a loop; inside app/ imports go
down the layers views -> widgets -> (content, grading, runs, learners) -> settings, never up."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("algorithms", "app")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """Each of our modules -> the modules of ours it imports anywhere in its file (a package's
    `from pkg import name` counts as pkg.name when that is a module, else as pkg)."""
    files = {module_name(p): p for p in python_files(*OURS)}

    def ours(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, frozenset[str]] = {}
    for module, path in files.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {ours(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from ..y import z
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                targets |= {ours(f"{base}.{alias.name}") for alias in node.names}
        graph[module] = frozenset(t for t in targets if t and t != module)
    return graph


# Edges that still close a loop, each with why it is there and how it goes. Fewer is better: a test
# below fails when an edge listed here no longer exists, so the list only shrinks.
ALLOWED: dict[tuple[str, str], str] = {}


def cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_our_modules() -> None:
    graph = {m: frozenset(t for t in out if (m, t) not in ALLOWED) for m, out in import_graph().items()}
    loops = cycles(graph)
    described = ["; ".join(f"{a} -> {b}" for a in loop for b in sorted(graph[a]) if b in loop) for loop in loops]
    assert not loops, "import cycles (a lazy import inside a function counts):\n" + "\n".join(described)


def test_every_allowed_edge_still_exists() -> None:
    graph = import_graph()
    gone = [edge for edge in ALLOWED if edge[1] not in graph.get(edge[0], ())]
    assert not gone, f"these edges are gone: remove them from ALLOWED: {gone}"


def test_the_cycle_check_sees_lazy_imports() -> None:
    # quiz.py imports the learner store inside a function, to keep sqlalchemy off a lesson's first load
    assert "app.learners.store" in import_graph()["app.widgets.quiz"]
    assert cycles({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset()}) == [
        ["a", "b", "c"]
    ]


# serve (the launcher) and warmup (what it does before the server answers) sit above the pages.
LAYERS = {
    "serve": 4,
    "warmup": 4,
    "views": 3,
    "widgets": 2,
    "content": 1,
    "grading": 1,
    "runs": 1,
    "learners": 1,
    "settings": 0,
    "words": 0,
}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if parts[0] == "app" and len(parts) > 1 else None


def test_app_layers_are_known() -> None:
    tops = {module_name(p).split(".")[1] for p in python_files("app") if module_name(p) != "app"}
    assert tops - {"main"} == set(LAYERS), "a new folder in app/: give it a layer in LAYERS (and docs/architecture.md)"


def test_imports_go_down_the_app_layers() -> None:
    up = [
        f"{a} -> {b}"
        for a, targets in sorted(import_graph().items())
        for b in sorted(targets)
        if layer(a) is not None and layer(b) is not None and layer(a) < layer(b)
    ]
    assert not up, (
        "a lower layer imports a higher one (views -> widgets -> content/grading/runs/learners -> settings):\n"
        + "\n".join(up)
    )


def test_settings_import_nothing_of_ours() -> None:
    assert import_graph()["app.settings"] == frozenset()


def edges(source: str, target: str) -> set[str]:
    return {
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        if a.startswith(source)
        for b in targets
        if b.startswith(target)
    }


def test_grading_imports_nothing_from_learners_and_learners_import_only_settings() -> None:
    assert edges("app.grading", "app.learners") == set()
    for other in ("app.content", "app.grading", "app.runs", "app.widgets", "app.views"):
        assert edges("app.learners", other) == set()


# Content reaches grading in two places only: the bank checks compute a question's answer key as the
# grader will (app/grading/predict.py, cases.py, graders.expected_outputs), and the validate command
# runs the rubric self-check. The schema (quiz_models) and the loader never do, so no loop can form.
CONTENT_USES_GRADING = {"app.content.bank_checks", "app.content.__main__"}


def test_content_reaches_grading_only_through_the_bank_checks_and_the_command() -> None:
    users = {edge.split(" -> ")[0] for edge in edges("app.content", "app.grading")}
    assert users <= CONTENT_USES_GRADING
    assert "app.content.bank_checks" in users  # the check sees the lazy imports it is about


@pytest.mark.parametrize("path", python_files("algorithms"), ids=lambda p: str(p.relative_to(ROOT)))
def test_algorithms_import_nothing_of_ours(path: Path) -> None:
    assert not imported_modules(path) & {"app", "streamlit", "tests", "bench"}


def test_environments_import_no_algorithm() -> None:
    envs = {m: out for m, out in import_graph().items() if m.startswith("algorithms.envs")}
    assert envs
    outside = {f"{m} -> {t}" for m, out in envs.items() for t in out if not t.startswith("algorithms.envs")}
    assert not outside, f"environments are leaves: {sorted(outside)}"


STREAMLIT_FREE = [
    p for p in python_files("app") if p.relative_to(ROOT).parts[1] not in ("views", "widgets", "main.py", "serve.py")
]


@pytest.mark.parametrize("path", STREAMLIT_FREE, ids=lambda p: str(p.relative_to(ROOT)))
def test_app_core_does_not_import_streamlit(path: Path) -> None:
    assert "streamlit" not in imported_modules(path)


def test_the_check_sees_the_core_packages() -> None:
    names = {p.relative_to(ROOT).parts[1] for p in STREAMLIT_FREE}
    assert {"content", "grading", "runs", "learners", "settings.py"} <= names


def test_no_pages_folder_next_to_the_main_script() -> None:
    # Streamlit treats a `pages/` folder beside the main script as a legacy multipage app until
    # st.navigation runs once, so a deep link (/lesson?lesson=ID) as the first request after a
    # server start would run the page without main.py. Our pages live in app/views/.
    assert not (ROOT / "app" / "pages").exists()
