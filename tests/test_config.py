"""The top-level streamlit_config.toml is the configuration Streamlit actually uses."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_streamlit_reads_our_config_file() -> None:
    ours = tomllib.loads((ROOT / "streamlit_config.toml").read_text())
    # `streamlit config show` prints the options in force, as the server started from the root would use them.
    shown = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    body = shown.stdout[shown.stdout.index("\n[") :]  # skip the prose header, which is not TOML
    in_force = tomllib.loads(body)
    checked = 0

    def compare(ours: dict, shown: dict, where: str) -> None:
        nonlocal checked
        for name, value in ours.items():
            if isinstance(value, dict):  # a nested table such as [theme.light]
                compare(value, shown[name], f"{where}{name}.")
                continue
            assert shown[name] == value, f"{where}{name}: file says {value!r}"
            checked += 1

    compare(ours, in_force, "")
    assert checked >= 10
    # Not Streamlit's default red; both themes are set, so the reader's light or dark setting is honoured.
    assert in_force["theme"]["light"]["primaryColor"] == "#b93c0a"
    assert in_force["theme"]["dark"]["backgroundColor"] == "#14161c"


def test_config_symlink_points_at_the_top_level_file() -> None:
    link = ROOT / ".streamlit" / "config.toml"
    assert link.resolve() == (ROOT / "streamlit_config.toml").resolve()
