"""Warm a server process before it answers its first request.

A Streamlit server runs no app code until a browser connects, so the first learner after a
start paid for every import and every content file the page needed: 0.7 to 0.9 s of a light
lesson's script on the 2-core development machine, and 3 to 6 s for a lesson with a live run
(PPO's first render took 7.4 s, 6.6x the minimal page: torch, its config's sources, pygments).
`python -m app.serve` (what `make run` starts) calls `warm()` first, so that work is done before
`/_stcore/health` answers and a load balancer sends anyone in:

- torch and gymnasium (`bank_checks.HEAVY_MODULES`), first: a live run's form is built from its
  algorithm's config class, whose module imports them, and with them loaded the bank checks run
  the torch-backed references too, so every cache below is the one the pages will ask for;
- the modules the pages import at their top (read from `app/views/*.py`, not listed by hand);
- the lesson catalogue and every lesson's full checks (code references, diagrams, live-run
  presets), and every question's checks against its reference code;
- every lesson's code listings, highlighted, and each algorithm's config form (its help texts);
- every lesson's demos at the lesson's settings, drawn outside a page so that st.cache_data holds
  their results (the exploration chain alone took 2.4 s of its lesson's first render);
- the learner's sandbox (`app/grading/sandbox.py`), a process of its own, started beside the rest;
- Plotly's validators (one figure with every trace type the charts use) and `inspect`'s map of
  module files (Streamlit's first element of a process walks the stack with it);
- then `gc.freeze()`: Streamlit collects garbage after every script run, and the objects made so
  far live as long as the process.

All of it takes about 12 s on the 2-core development machine (torch 1.6 s, the demos 7.6 s) and
435 MB resident (220 MB light). `RLDOJO_WARMUP=light` (`warm(heavy=False)`) leaves out torch, gymnasium and
the demos, in about 4 s: Home, Practice and the lessons without a live run or a computing demo are
as fast, and the others pay on their own first visit. transformers and
Ray are never imported here (`HEAVY`): only a language-model or Ray run needs them.

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
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.content.bank_checks import HEAVY_MODULES, imports_heavy

VIEWS = Path(__file__).resolve().parent / "views"
MAIN = Path(__file__).resolve().parent / "main.py"
# Imported first by the full warm-up, never by the light one: with either loaded the bank checks stop
# deferring torch-backed references (`bank_checks._heavy_check_deferred`), so they must be loaded
# before the question checks whose results the pages reuse.
WARM_HEAVY = HEAVY_MODULES
# Never imported by the warm-up: only a language-model run (in its own process) or a Ray run needs them.
NEVER = ("transformers", "ray")
SANDBOX_WAIT_S = 30.0  # at most this long for the learner's sandbox before the server answers
# What the light warm-up (`RLDOJO_WARMUP=light`) leaves out.
HEAVY = (*WARM_HEAVY, *NEVER)

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


def _blocks(entries) -> Iterator[tuple[str, Any]]:
    """(the key the lesson page gives it, block) for every block of every readable lesson."""
    for entry in entries:
        for s, section in enumerate(entry.lesson.sections if entry.lesson else []):
            for b, block in enumerate(section.blocks):
                yield f"{entry.id}-{s}-{b}", block


def _needs_heavy(entry) -> bool:
    """True when the lesson's full check imports a HEAVY module: a live run's preset is checked
    against its algorithm's config class, whose module imports torch or gymnasium (read from its
    source, as the bank checks decide which reference calls to defer)."""
    from algorithms import registry
    from app.content.demos import DEMOS, LiveRunParams
    from app.content.models import DemoBlock

    algorithms = registry()
    for _, block in _blocks([entry]):
        spec = DEMOS.get(block.demo) if isinstance(block, DemoBlock) else None
        if spec is not None and spec.params is LiveRunParams:
            algorithm = algorithms.get(str(block.params.get("algorithm")))
            if algorithm is not None and imports_heavy(algorithm.module):
                return True
    return False


def warm(heavy: bool = True) -> dict[str, float]:
    """Do a cold page's one-off work now; `heavy=False` leaves torch, gymnasium and the demos out
    (module docstring). Returns the seconds each step took."""
    took: dict[str, float] = {}
    skip = NEVER if heavy else HEAVY

    def step(name: str, work) -> None:
        started = time.perf_counter()
        try:
            work()
        except Exception:  # the page shows this problem in place; the server still starts
            log.warning("warm-up step %r failed; the page will redo it", name, exc_info=True)
        took[name] = time.perf_counter() - started

    def heavy_modules() -> None:
        for module in WARM_HEAVY:
            importlib.import_module(module)

    def imports() -> None:
        for module in page_imports():
            if module.split(".")[0] not in skip:
                importlib.import_module(module)

    def lessons() -> None:
        from app.content.loader import load_catalogue

        catalogue = load_catalogue()
        for lesson_id, entry in catalogue.lessons.items():
            if heavy or not _needs_heavy(entry):
                catalogue.fully_checked(lesson_id)

    def questions() -> None:
        from app.grading.bank import load_questions, question

        # Each question's own checks against the reference code, as a quiz block runs them for the
        # questions it shows. Torch-backed references are checked where torch is already loaded
        # (bank_checks.HEAVY_MODULES): in the light warm-up they are deferred, as on its pages.
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

    def code() -> None:
        # A lesson's code listings are highlighted by pygments (0.5 s of PPO's first render), and a
        # live run's form reads its config's help texts from the source (0.8 s): both are remembered
        # per process (`code.snippet_html`, `contract._own_field_docs`), so do them now.
        from algorithms import load, registry
        from algorithms.contract import config_fields
        from app.content.coderef import CodeRef, CodeRefError, resolve
        from app.content.loader import load_catalogue
        from app.content.models import CodeBlock
        from app.widgets.code import snippet_html

        for _, block in _blocks(load_catalogue().lessons.values()):
            if not isinstance(block, CodeBlock):
                continue
            try:
                snippet = resolve(block.code)
                snippet_html(snippet)
                if snippet.ref.region:
                    snippet_html(resolve(CodeRef(snippet.ref.module, snippet.ref.qualname)))
            except CodeRefError:
                continue  # the lesson shows this problem in place
        for name in registry() if heavy else ():
            try:
                config_fields(load(name)[1])
            except Exception:  # a plugin's missing dependency: the run's page says so
                log.warning("warm-up: algorithm %r's config could not be read", name, exc_info=True)

    def demos() -> None:
        # A lesson's demo computes its results at the lesson's own settings on the first visit (then
        # st.cache_data keeps them for every session): 2.4 s for the exploration chain, 1.3 s for
        # Dyna-Q, 1.0 s for the contextual bandits. Drawn here outside a page (Streamlit's "bare
        # mode": widgets return their defaults, nothing is sent), the caches hold them before anyone
        # comes. Not the live runs: their forms need no computing, and they read the run store.
        from app.content.loader import load_catalogue
        from app.content.models import DemoBlock
        from app.widgets.demos import render_demo

        failed: list[str] = []
        logging.disable(logging.WARNING)  # bare mode warns once per Streamlit call
        try:
            for key, block in _blocks(load_catalogue().lessons.values()):
                if isinstance(block, DemoBlock) and block.demo != "live-run":
                    try:
                        render_demo(block.demo, block.params, key)
                    except Exception:  # the page shows this demo's problem in place
                        failed.append(f"{key}: {block.demo}")
        finally:
            logging.disable(logging.NOTSET)
        if failed:
            log.warning("warm-up: these demos failed and will compute on their page: %s", ", ".join(failed))

    # The learner's sandbox: a separate process that imports what learners' code may use (1.3 s of
    # CPU). Started from a page, it took that CPU from the browser drawing the page, on a 2-core
    # machine. Started now, it loads beside the steps below.
    sandbox = threading.Thread(target=_start_sandbox, daemon=True, name="sandbox-warm-up")
    sandbox.start()
    if heavy:
        step("heavy", heavy_modules)
    step("imports", imports)
    step("lessons", lessons)
    step("questions", questions)
    step("code", code)
    step("charts", charts)
    if heavy:
        step("demos", demos)
    # Streamlit's first element of a process checks whether it runs in a REPL with
    # `inspect.stack()`, which maps every loaded module's file (`inspect.getmodule`): 0.15 s on the
    # first page with the app's modules loaded. That map is kept, so build it now.
    step("inspect", inspect.stack)
    step("sandbox", lambda: sandbox.join(SANDBOX_WAIT_S))
    # Streamlit runs a full garbage collection after every script run (`runner.postScriptGC`),
    # holding the GIL while the page's last messages wait to be sent. Everything made so far lives
    # as long as the process: frozen, the collector no longer walks it (0.64 s per run to about
    # 0.1 s, py-spy on a lesson's first render).
    gc.collect()
    gc.freeze()
    return took


def _start_sandbox() -> None:
    from app.grading.sandbox import shared_sandbox

    try:
        shared_sandbox().start()
    except RuntimeError:  # no sandbox here: the coding questions say so on their page
        log.warning("warm-up: the learner's sandbox did not start; the first coding question will retry")


def main(heavy: bool = True) -> None:
    took = warm(heavy)
    loaded = [name for name in HEAVY if name in sys.modules]
    print(
        "warm-up: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in took.items()),
        f"(heavy modules imported: {', '.join(loaded) or 'none'})",
    )


if __name__ == "__main__":
    main(heavy="--light" not in sys.argv)
