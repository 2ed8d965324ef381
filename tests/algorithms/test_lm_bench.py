"""bench/dpo_vs_trl.py: both sides train the same number of steps and report comparable numbers."""

from __future__ import annotations

import json
import math

import pytest


@pytest.mark.slow
def test_dpo_vs_trl_runs_both_sides(capsys) -> None:
    """About 10 s of CPU, most of it importing trl and building its trainer."""
    from bench.dpo_vs_trl import main, preference_pairs

    pairs = preference_pairs(6, seed=1)
    assert len(pairs) == 6 and all(c != r for _, c, r in pairs)
    assert main(["--steps", "2", "--batch", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["ours_steps"] == result["trl_steps"] == 2
    for key in ("ours_seconds_per_step", "trl_seconds_per_step", "ours_final_loss", "trl_final_loss"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    # Two steps from the same start on the same pairs: both losses move off ln 2 by a similar amount.
    assert abs(result["ours_final_loss"] - result["trl_final_loss"]) < 0.1
