"""The server warms up before it answers (`app/warmup.py`, started by `python -m app.serve`):
a cold page's one-off work is done, nothing heavy is imported, and a broken step never stops
the server. Also the settings that made every new session's first page slow."""

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
took = warmup.warm()
from app.content import bank_checks, loader
from app.grading.bank import load_questions
catalogue = loader.load_catalogue()
print("STATE:" + json.dumps({
    "took": took,
    "missing": [m for m in warmup.page_imports() if m not in sys.modules],
    "heavy": [m for m in warmup.HEAVY if m in sys.modules],
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


@pytest.fixture(scope="module")
def warmed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """warm() in a fresh interpreter, as the server runs it, and what it left behind."""
    return json.loads(printed(PROBE, "STATE:", tmp_path_factory.mktemp("data")))


def test_every_module_a_page_imports_is_loaded(warmed: dict) -> None:
    assert warmed["missing"] == []
    assert set(warmed["took"]) == {"imports", "lessons", "questions", "charts", "inspect"}


def test_nothing_heavy_is_imported(warmed: dict) -> None:
    # torch alone is 2 s and 300 MB; Home and Practice's choice questions never need it. With
    # gymnasium loaded the bank checks would stop deferring torch references, so it stays out too.
    assert {"torch", "gymnasium"} <= set(warmup.HEAVY)
    assert warmed["heavy"] == []


def test_lessons_are_fully_checked_except_those_whose_check_imports_torch_or_gymnasium(warmed: dict) -> None:
    assert warmed["catalogue_cached"]
    assert warmed["live_run_lessons"], "some lesson has a live run (its preset check imports torch or gymnasium)"
    expected = sorted(set(warmed["lessons"]) - set(warmed["live_run_lessons"]))
    assert warmed["checked"] == expected


def test_every_question_is_checked_against_its_reference(warmed: dict) -> None:
    assert warmed["questions"] > 100 and warmed["coded"] > 20
    # One remembered result per predict and implement question (the checks that run the reference).
    assert warmed["code_checks"] == warmed["coded"]


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
    with caplog.at_level("WARNING", logger="app.warmup"):
        took = warmup.warm()
    assert set(took) == {"imports", "lessons", "questions", "charts", "inspect"}
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
    assert "warm-up: imports" in text and "heavy modules imported: none" in text, text[-2000:]
    assert text.index("warm-up:") < text.index("You can now view")
