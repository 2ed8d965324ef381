"""AppTest: the RLHF side-by-side demo starts two real (smoke-sized) runs and shows their results."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.widgets.runs import run_manager

PARAMS = {
    "preset": "smoke",
    "runs": [
        {"label": "with KL", "stage": "ppo", "beta": 0.1, "iterations": 2},
        {"label": "without", "stage": "ppo_no_kl", "iterations": 2},
    ],
}


def _render(params: dict) -> None:
    import sys
    from pathlib import Path

    root = str(Path.cwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.widgets.demos import render_demo

    render_demo("rlhf-compare", params, key="t")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RLDOJO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RLDOJO_MAX_RUNS", "2")
    run_manager.clear()
    yield tmp_path
    run_manager.clear()


def test_two_runs_start_share_one_sft_model_and_end_in_a_table(data_dir: Path) -> None:
    at = AppTest.from_function(_render, args=(PARAMS,), default_timeout=60).run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "with KL" in text and "without" in text
    at.button(key="t-start").click().run()
    assert not at.exception, at.exception
    value = at.query_params["rlhf-t"]
    ids = (value[0] if isinstance(value, list) else value).split(",")
    assert len(ids) == 2

    manager = run_manager()
    deadline = time.monotonic() + 240
    while any(manager.get(i).status not in ("finished", "failed", "stopped") for i in ids):
        assert time.monotonic() < deadline, [manager.log_tail(i) for i in ids]
        time.sleep(0.5)
    records = [manager.get(i) for i in ids]
    assert [r.status for r in records] == ["finished", "finished"], [manager.log_tail(i) for i in ids]
    assert records[1].final_metrics["beta"] == 0.0 and records[0].final_metrics["beta"] == 0.1
    cached = list((data_dir / "cache" / "rlhf").glob("smoke-seed0/foundations.json"))
    assert len(cached) == 1  # both runs used one SFT model, reward model and data set

    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) >= 3  # reward model, hidden score, KL, well-formed
    table = at.dataframe[0].value
    assert list(table.index) == ["with KL", "without"] and "hidden score" in table.columns
    assert any("hidden score" in m.value for m in at.markdown)  # the latest samples, judged


def test_a_bad_configuration_is_refused_at_validation() -> None:
    from pydantic import ValidationError

    from app.content.demos import RlhfCompareParams

    with pytest.raises(ValidationError, match="stage"):
        RlhfCompareParams.model_validate({"runs": [{"label": "x", "stage": "sft"}]})
    with pytest.raises(ValidationError, match="runs"):
        RlhfCompareParams.model_validate({"runs": []})
