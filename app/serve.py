"""Start the app: `python -m app.serve [streamlit options]`, what `make run` runs.

The same as `streamlit run app/main.py [options]`, after `app.warmup.warm()` has done a cold
page's one-off work (imports, the lesson catalogue and its checks) in this process: the server
answers `/_stcore/health` about 3 s later (3.2 to 4.0 s after the start against 0.8 s, on the
2-core dev VM: docs/benchmarks.md), and the first learner's page renders as fast as the next one's.
`RLDOJO_WARMUP=0` skips the warm-up (the server then answers sooner and the first page pays instead).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "app" / "main.py"
WARMUP_ENV = "RLDOJO_WARMUP"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if os.environ.get(WARMUP_ENV, "1") != "0":
        from app import warmup

        warmup.main()
    from streamlit.web import cli

    cli.main(args=["run", str(MAIN), *argv], prog_name="streamlit")


if __name__ == "__main__":
    main()
