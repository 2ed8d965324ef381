"""Warm a server process before it answers its first request.

A Streamlit server runs no app code until a browser connects, so the first learner after a
start paid for every import and every content file the page needed (about 0.7 to 0.9 s of a
cold page's script on the 2-core development machine, against 0.1 to 0.3 s for the same page
once warm). `python -m app.serve` (what `make run` starts) calls `warm()` first, so that work is
done before `/_stcore/health` answers and a load balancer sends anyone in:

- the modules the pages import at their top (read from `app/views/*.py`, not listed by hand);
- the lesson catalogue, each lesson's full checks (code references, diagrams), and every
  question's checks against its reference code, all of which the content caches keep per process;
- Plotly's validators (one figure with every trace type the charts use) and `inspect`'s map of
  module files (Streamlit's first element of a process walks the stack with it);
- then `gc.freeze()`: Streamlit collects garbage after every script run, and the objects made so
  far live as long as the process.

What stays lazy is what only some pages need and costs seconds or hundreds of MB: torch and
gymnasium (a live run's preset check, torch-backed question references), transformers and the
learner's sandbox. A lesson whose full check would import those (a live run, its algorithm's
imports read from the source) is left to its own first visit.

Nothing here may stop the server from starting: a broken content file is the page's to show
(in place, with its file and line), so a failing step is logged and skipped.
"""

from __future__ import annotations

import ast
import gc
import importlib
import inspect
import logging
import sys
import time
from pathlib import Path

from app.content.bank_checks import HEAVY_MODULES, imports_heavy

VIEWS = Path(__file__).resolve().parent / "views"
MAIN = Path(__file__).resolve().parent / "main.py"
# Never imported by the warm-up: each costs seconds (and torch hundreds of MB), and most pages never
# need it. The bank checks' heavy modules first: with one loaded they stop deferring torch-backed
# references (`bank_checks._heavy_check_deferred`), and the next quiz block would import torch.
HEAVY = (*HEAVY_MODULES, "transformers", "ray")

log = logging.getLogger(__name__)


def page_imports(files: list[Path] | None = None) -> list[str]:
    """The modules `app/main.py` and the pages import at module level, in the order they appear."""
    files = files if files is not None else [MAIN, *sorted(VIEWS.glob("*.py"))]
    found: list[str] = []
    for path in files:
        for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            found += [name for name in names if name not in found]
    return found


def _needs_heavy(entry) -> bool:
    """True when the lesson's full check imports a HEAVY module: a live run's preset is checked
    against its algorithm's config class, whose module imports torch or gymnasium (read from its
    source, as the bank checks decide which reference calls to defer)."""
    from algorithms import registry
    from app.content.demos import DEMOS, LiveRunParams
    from app.content.models import DemoBlock

    lesson = entry.lesson
    if lesson is None:
        return False
    algorithms = registry()
    for section in lesson.sections:
        for block in section.blocks:
            if isinstance(block, DemoBlock):
                spec = DEMOS.get(block.demo)
                if spec is None or spec.params is not LiveRunParams:
                    continue
                algorithm = algorithms.get(str(block.params.get("algorithm")))
                if algorithm is not None and imports_heavy(algorithm.module):
                    return True
    return False


def warm() -> dict[str, float]:
    """Do a cold page's one-off work now. Returns the seconds each step took."""
    took: dict[str, float] = {}

    def step(name: str, work) -> None:
        started = time.perf_counter()
        try:
            work()
        except Exception:  # the page shows this problem in place; the server still starts
            log.warning("warm-up step %r failed; the page will redo it", name, exc_info=True)
        took[name] = time.perf_counter() - started

    def imports() -> None:
        for module in page_imports():
            if module.split(".")[0] not in HEAVY:
                importlib.import_module(module)

    def lessons() -> None:
        from app.content.loader import load_catalogue

        catalogue = load_catalogue()
        for lesson_id, entry in catalogue.lessons.items():
            if not _needs_heavy(entry):
                catalogue.fully_checked(lesson_id)

    def questions() -> None:
        from app.grading.bank import load_questions, question

        # Each question's own checks against the reference code, as a quiz block runs them for the
        # questions it shows. Torch-backed references are checked where torch is already loaded
        # (bank_checks.HEAVY_MODULES), so this imports numpy and our algorithms, never torch.
        for question_id in load_questions(check_code=False).by_id:
            question(question_id)

    def charts() -> None:
        # Plotly builds each property's validator on first use: a demo's first figure took 0.1-0.3 s
        # more than its second. One figure with every trace type and call the app's charts use.
        import plotly.graph_objects as go
        import plotly.io
        from plotly.subplots import make_subplots

        from app.widgets.charts import describe, figure_table, lift_title

        fig = make_subplots(rows=1, cols=2, subplot_titles=["a", "b"])
        fig.add_trace(go.Scatter(x=[0, 1], y=[1, 0], mode="lines+markers", name="line"), row=1, col=1)
        fig.add_trace(go.Bar(x=["a", "b"], y=[1, 2], name="bars"), row=1, col=1)
        fig.add_trace(go.Heatmap(z=[[0, 1], [1, 0]], colorscale="Viridis"), row=1, col=2)
        fig.update_layout(title="warm-up", height=300, margin={"t": 40}, legend={"orientation": "h"})
        fig.update_xaxes(title="x", range=[0, 1])
        fig.update_yaxes(title="y", rangemode="tozero")
        fig.frames = [go.Frame(data=[go.Scatter(x=[0], y=[0])], name="0")]
        describe(fig)
        figure_table(fig)
        lift_title(fig)
        plotly.io.to_json(fig, validate=False)

    step("imports", imports)
    step("lessons", lessons)
    step("questions", questions)
    step("charts", charts)
    # Streamlit's first element of a process checks whether it runs in a REPL with
    # `inspect.stack()`, which maps every loaded module's file (`inspect.getmodule`): 0.15 s on the
    # first page with the app's modules loaded. That map is kept, so build it now.
    step("inspect", inspect.stack)
    # Streamlit runs a full garbage collection after every script run (`runner.postScriptGC`),
    # holding the GIL while the page's last messages wait to be sent. Everything made so far lives
    # as long as the process: frozen, the collector no longer walks it (0.64 s per run to about
    # 0.1 s, py-spy on a lesson's first render).
    gc.collect()
    gc.freeze()
    return took


def main() -> None:
    took = warm()
    heavy = [name for name in HEAVY if name in sys.modules]
    print(
        "warm-up: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in took.items()),
        f"(heavy modules imported: {', '.join(heavy) or 'none'})",
    )


if __name__ == "__main__":
    main()
