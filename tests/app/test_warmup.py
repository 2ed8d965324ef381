"""The server warms up before it answers (`app/warmup.py`, started by `python -m app.serve`):
a cold page's one-off work is done (torch and gymnasium included, unless the light warm-up is
asked for), transformers and Ray are never imported, and a broken step never stops the server.
Also the settings that made every new session's first page slow."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from app import warmup
from tests.fresh_process import printed

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json, sys
from app import warmup
from tests.fresh_process import printed
took = warmup.warm(heavy=WARM_HEAVY_FLAG)
from algorithms import contract
from app.content import bank_checks, loader
from app.content.models import CodeBlock
from app.grading import sandbox
from app.grading.bank import load_questions
from app.widgets import code
catalogue = loader.load_catalogue()
# The exploration lesson's demo, drawn as its page draws it, with its computation made to fail:
# it only draws if the warm-up left its result in st.cache_data.
import logging
logging.disable(logging.WARNING)
from app.content.models import DemoBlock
from app.widgets import exploration_demo
from app.widgets.demos import render_demo
def recomputed(*args, **kwargs):
    raise RuntimeError("recomputed")
exploration_demo.chain_experiment = recomputed
lesson = catalogue.lessons["exploration-sparse-rewards"].lesson
demo_cached = True
for s, section in enumerate(lesson.sections):
    for b, block in enumerate(section.blocks):
        if isinstance(block, DemoBlock) and block.demo == "sparse-exploration":
            try:
                render_demo(block.demo, block.params, f"{lesson.id}-{s}-{b}")
            except RuntimeError:
                demo_cached = False
print("STATE:" + json.dumps({
    "demo_cached": demo_cached,
    "took": took,
    "missing": [m for m in warmup.page_imports() if m not in sys.modules],
    "heavy": [m for m in warmup.HEAVY if m in sys.modules],
    "code_blocks": sum(isinstance(b, CodeBlock) for e in catalogue.lessons.values() if e.lesson
                       for s in e.lesson.sections for b in s.blocks),
    "highlighted": code.snippet_html.cache_info().currsize,
    "config_docs": contract._own_field_docs.cache_info().currsize,
    "sandbox_running": sandbox._shared is not None and sandbox._shared._proc is not None
                       and sandbox._shared._proc.poll() is None,
    "catalogue_cached": "catalogue-False" in loader._cache,
    "checked": sorted(catalogue._checked),
    "lessons": list(catalogue.lessons),
    "live_run_lessons": [i for i, e in catalogue.lessons.items() if warmup._needs_heavy(e)],
    "code_checks": len(bank_checks._code_checks),
    "questions": len(load_questions(check_code=False).by_id),
    "coded": sum(q.kind in ("predict", "implement") for q in load_questions(check_code=False).by_id.values()),
    "frozen": gc.get_freeze_count(),
}))
"""


STEPS = {"imports", "lessons", "questions", "code", "charts", "inspect", "sandbox"}


@pytest.fixture(scope="module")
def warmed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """warm() in a fresh interpreter, as the server runs it, and what it left behind."""
    return json.loads(printed(PROBE.replace("WARM_HEAVY_FLAG", "True"), "STATE:", tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def warmed_light(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """warm(heavy=False) (RLDOJO_WARMUP=light) in a fresh interpreter."""
    return json.loads(printed(PROBE.replace("WARM_HEAVY_FLAG", "False"), "STATE:", tmp_path_factory.mktemp("data")))


def test_every_module_a_page_imports_is_loaded(warmed: dict, warmed_light: dict) -> None:
    assert warmed["missing"] == [] and warmed_light["missing"] == []
    assert set(warmed["took"]) == {"heavy", "demos", *STEPS}
    assert set(warmed_light["took"]) == STEPS


def test_torch_and_gymnasium_are_loaded_first_and_transformers_and_ray_never(warmed: dict) -> None:
    # A live run's form is built from its config class, whose module imports torch: PPO's first
    # render took 7.4 s (6.6x the minimal page) while the page imported it.
    assert set(warmup.WARM_HEAVY) == {"torch", "gymnasium"}
    assert sorted(warmed["heavy"]) == sorted(warmup.WARM_HEAVY)
    assert not set(warmup.NEVER) & set(warmed["heavy"])


def test_the_light_warm_up_imports_nothing_heavy(warmed_light: dict) -> None:
    # torch alone is 2 s and 200 MB; Home and Practice's choice questions never need it. With
    # gymnasium loaded the bank checks would stop deferring torch references, so it stays out too.
    assert {"torch", "gymnasium", "transformers", "ray"} <= set(warmup.HEAVY)
    assert warmed_light["heavy"] == []


def test_every_lesson_is_fully_checked(warmed: dict) -> None:
    assert warmed["catalogue_cached"]
    assert warmed["checked"] == sorted(warmed["lessons"])


def test_the_light_warm_up_leaves_the_lessons_whose_check_imports_torch_or_gymnasium(warmed_light: dict) -> None:
    assert warmed_light["live_run_lessons"], "some lesson has a live run (its preset check imports torch)"
    expected = sorted(set(warmed_light["lessons"]) - set(warmed_light["live_run_lessons"]))
    assert warmed_light["checked"] == expected


def test_code_listings_and_config_forms_are_ready(warmed: dict, warmed_light: dict) -> None:
    # pygments took 0.5 s of PPO's first render; its config's help texts 0.8 s.
    assert warmed["code_blocks"] > 20
    assert warmed["highlighted"] >= warmed["code_blocks"] and warmed_light["highlighted"] >= warmed["code_blocks"]
    assert warmed["config_docs"] >= 10  # each algorithm's config class and its bases


def test_demos_are_computed_at_their_lesson_s_settings(warmed: dict, warmed_light: dict) -> None:
    # The exploration chain took 2.4 s of its lesson's first render (5.5 s, 4.5x the minimal page).
    assert warmed["demo_cached"]
    assert not warmed_light["demo_cached"]  # the light warm-up leaves the demos to their pages


def test_the_learner_s_sandbox_is_running_before_the_server_answers(warmed: dict) -> None:
    # Started by the first page with a coding question, it took 1.3 s of CPU from the browser.
    assert warmed["sandbox_running"]


def test_every_question_is_checked_against_its_reference(warmed: dict, warmed_light: dict) -> None:
    assert warmed["questions"] > 100 and warmed["coded"] > 20
    # One remembered result per predict and implement question (the checks that run the reference),
    # made with torch loaded (the full warm-up) or not, as the pages will then ask for it.
    assert warmed["code_checks"] == warmed["coded"] and warmed_light["code_checks"] == warmed["coded"]


def test_what_lives_as_long_as_the_process_is_frozen_for_the_garbage_collector(warmed: dict) -> None:
    # Streamlit's gc.collect(2) after every script run walked it all (0.6 s) while the page waited.
    assert warmed["frozen"] > 100_000


def test_page_imports_reads_module_level_imports_only(tmp_path: Path) -> None:
    page = tmp_path / "page.py"
    page.write_text(
        "import json\n"
        "import streamlit as st\n"
        "from app.grading.bank import load_questions\n"
        "from . import sibling\n"
        "def later():\n"
        "    import torch\n"
        "if True:\n"
        "    import pandas\n"
    )
    assert warmup.page_imports([page]) == ["json", "streamlit", "app.grading.bank"]
    real = warmup.page_imports()
    assert "app.grading.bank" in real and "app.widgets.blocks" in real and "streamlit" in real


def test_a_failing_step_is_logged_and_the_rest_still_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from app.content import loader

    def broken(*args, **kwargs):
        raise RuntimeError("a lesson file broke the loader")

    monkeypatch.setattr(loader, "load_catalogue", broken)
    monkeypatch.setattr(warmup.gc, "freeze", lambda: None)  # keep this test process's collector as it is
    monkeypatch.setattr(warmup, "_start_sandbox", lambda: None)  # this process's tests start their own
    with caplog.at_level("WARNING", logger="app.warmup"):
        took = warmup.warm(heavy=False)
    assert set(took) == STEPS
    assert "'lessons' failed" in caplog.text and "a lesson file broke the loader" in caplog.text


def test_the_served_settings_keep_new_sessions_fast() -> None:
    settings = tomllib.loads((ROOT / "streamlit_config.toml").read_text())
    # The source watcher resolved ~3,000 module paths on each new session's first run, on the
    # event loop, holding back that page's messages.
    assert settings["server"]["fileWatcherType"] == "none"
    assert (ROOT / ".streamlit" / "config.toml").resolve() == (ROOT / "streamlit_config.toml").resolve()


def test_make_run_starts_the_warmed_server() -> None:
    makefile = (ROOT / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "-m app.serve" in run and "streamlit run" not in run


def test_the_launcher_warms_up_then_serves(tmp_path: Path) -> None:
    from tests.browser.server import streamlit_server

    log = tmp_path / "server.log"
    with streamlit_server(tmp_path, log) as url:  # python -m app.serve, as `make run`
        import urllib.request

        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as response:
            assert response.read() == b"ok"
    text = log.read_text()
    assert "warm-up: heavy" in text and "heavy modules imported: torch, gymnasium" in text, text[-2000:]
    assert text.index("warm-up:") < text.index("You can now view")


@pytest.mark.parametrize("value", ["yes", "heavy", "2"])
def test_an_unknown_warm_up_setting_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from app import serve

    monkeypatch.setenv("RLDOJO_WARMUP", value)
    with pytest.raises(SystemExit, match=f"RLDOJO_WARMUP must be one of 1, light, 0; it is '{value}'"):
        serve.main([])


def test_a_code_listing_is_highlighted_once_per_snippet(monkeypatch: pytest.MonkeyPatch) -> None:
    # pygments took 0.5 s of the PPO lesson's first render, and a lesson reruns on every click.
    from app.content.coderef import resolve
    from app.widgets import code

    calls: list[str] = []
    real = code.highlight
    monkeypatch.setattr(code, "highlight", lambda text, *args: calls.append(text) or real(text, *args))
    getattr(code.snippet_html, "cache_clear", lambda: None)()
    snippet = resolve("algorithms.returns:discounted_returns")
    first = code.snippet_html(snippet)
    assert code.snippet_html(resolve("algorithms.returns:discounted_returns")) == first
    assert len(calls) == 1 and "def discounted_returns" in calls[0]
