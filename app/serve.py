"""Start the app: `python -m app.serve [streamlit options]`, what `make run` runs.

The same as `streamlit run app/main.py [options]`, after `app.warmup.warm()` has done a cold
page's one-off work (torch, imports, the lesson catalogue and its checks, code listings, the demos'
results) in this process: the server answers `/_stcore/health` about 12 s later than a bare one on
the 2-core dev VM (docs/benchmarks.md), and the first learner's page renders as fast as the next
one's. `RLDOJO_WARMUP=light` leaves torch, gymnasium and the demos out (about 4 s, and 215 MB less;
a lesson with a live run or a computing demo then pays on its first visit); `RLDOJO_WARMUP=0` skips
the warm-up.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "app" / "main.py"
WARMUP_ENV = "RLDOJO_WARMUP"
WARMUP_MODES = ("1", "light", "0")  # all of it, without torch and gymnasium, none


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    mode = os.environ.get(WARMUP_ENV, "1").strip().lower()
    if mode not in WARMUP_MODES:
        raise SystemExit(f"{WARMUP_ENV} must be one of {', '.join(WARMUP_MODES)}; it is {mode!r}")
    if mode != "0":
        from app import warmup

        warmup.main(heavy=mode != "light")
    from streamlit.web import cli

    cli.main(args=["run", str(MAIN), *argv], prog_name="streamlit")


if __name__ == "__main__":
    main()
