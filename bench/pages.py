"""Benchmark: the first render of every page of the app against a minimal `st.navigation` app, same run.

Each page is opened as the first request of a freshly started server (so the imports it needs
count), in headless Chromium, and timed from the request to the end of its script run
(`stApp` reports `notRunning` and the page's own text is on screen). The peer is a two-page
`st.navigation` app whose pages write one title, served and timed the same way. Each figure is
the median of `--runs` cold starts; the ratio is ours over the peer's. Our server starts as
`make run` starts it (`python -m app.serve`: warmed before it answers `/_stcore/health`), so the
seconds from the server's start to its health answer are printed too, with the ratio of start to
finished page, ours over the peer's.

    python -m bench.pages [--runs 3] [--page lesson?lesson=td-learning] [--lessons] [--sections] [--json]

`--lessons` adds every lesson in the catalogue (about 12 minutes with `--runs 1` on the 2-core dev VM);
a lesson opens on its first section. `--sections` then times every section of every lesson
(`&section=N`, about 190) on one warmed server of ours and one of the peer's, a fresh tab each,
the peer's page and ours in turn (so a slow spell of the VM slows both): the median of `--runs` per
section, and the ratio to the peer's median measured in the same rounds (about 15 minutes with
`--runs 1`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

if __package__ in (None, ""):  # run as a script: python bench/pages.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.server import streamlit_server

# path (with query) -> a text the finished page shows
PAGES = {
    "": "RL Dojo",
    "lesson?lesson=returns-and-discounting": "Returns and discounting",
    "lesson?lesson=td-learning": "TD learning: Q-learning versus Sarsa",
    "lesson?lesson=reward-design": "Reward design and reward hacking",
    "lesson?lesson=deep-q-networks": "From Q-learning to DQN",
    "lesson?lesson=ppo": "Proximal Policy Optimization",  # its first section
    "lesson?lesson=ppo&section=all": "Proximal Policy Optimization",  # the longest lesson whole
    "practice?q=markov-property": "Practice",
    "practice?q=discounted-returns": "Practice",
    "review": "Review",
    "drill": "Drill",
    "progress": "Progress",
    "class": "Class",
    "runs": "Runs",
}
MINIMAL = """import streamlit as st

def first():
    st.title("Minimal")

def second():
    st.title("Second")

st.navigation([st.Page(first, title="First", default=True), st.Page(second, title="Second")]).run()
"""


def first_render_s(browser, url: str, text: str) -> float:
    """Seconds from the request to a finished script run showing `text`."""
    page = browser.new_page()
    try:
        started = time.perf_counter()
        page.goto(url)
        page.get_by_text(text, exact=True).first.wait_for(timeout=120_000)
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=120_000)
        return time.perf_counter() - started
    finally:
        page.close()


def cold(browser, app: str, path: str, text: str, data: Path) -> tuple[float, float]:
    """(seconds from the server's start to its health answer, seconds of the first render)."""
    log = data / "server.log"
    started = time.perf_counter()
    with streamlit_server(data, log, app=app) as url:
        ready = time.perf_counter() - started
        return ready, first_render_s(browser, f"{url}/{path}", text)


def every_section(browser, catalogue, tmp: Path, minimal: str, runs: int) -> dict[str, tuple[float, float]]:
    """path -> (median seconds, ratio to the peer's median in the same rounds), every section."""
    out: dict[str, tuple[float, float]] = {}
    with (
        streamlit_server(Path(tempfile.mkdtemp(dir=tmp)), tmp / "peer.log", app=minimal) as peer_url,
        streamlit_server(Path(tempfile.mkdtemp(dir=tmp)), tmp / "app.log") as url,
    ):
        first_render_s(browser, f"{url}/", "RL Dojo")  # the server's one-off first page
        for lesson_id in catalogue.ordered_ids():
            lesson = catalogue.lessons[lesson_id].lesson
            if lesson is None:
                continue
            for number in range(1, len(lesson.sections) + 1):
                # the first section's address is the lesson's own
                path = f"lesson?lesson={lesson_id}" + ("" if number == 1 else f"&section={number}")
                ours, peers = [], []
                for _ in range(runs):
                    peers.append(first_render_s(browser, f"{peer_url}/", "Minimal"))
                    ours.append(first_render_s(browser, f"{url}/{path}", lesson.title))
                median, peer = statistics.median(ours), statistics.median(peers)
                out[path] = (median, median / peer)
                print(f"/{path:60s} {median:.2f} s  ratio {median / peer:.2f}  (peer {peer:.2f} s)", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="cold starts per page (the median is reported)")
    parser.add_argument("--page", action="append", help="only these pages (path?query), repeatable")
    parser.add_argument("--lessons", action="store_true", help="also every lesson in the catalogue")
    parser.add_argument("--sections", action="store_true", help="every section of every lesson, warm servers")
    parser.add_argument("--json", action="store_true", help="also print one JSON object")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from app.content.loader import load_catalogue

    catalogue = load_catalogue()

    def shown_text(path: str) -> str:  # a lesson page shows its title
        lesson_id = parse_qs(urlsplit(path).query).get("lesson", [""])[0]
        return PAGES.get(path) or (catalogue.lessons[lesson_id].title if lesson_id in catalogue.lessons else "")

    pages = {p: shown_text(p) for p in args.page} if args.page else dict(PAGES)
    if args.lessons:
        for lesson_id in catalogue.ordered_ids():
            pages.setdefault(f"lesson?lesson={lesson_id}", catalogue.lessons[lesson_id].title)
    results: dict[str, float] = {}
    sections: dict[str, tuple[float, float]] = {}
    ready: dict[str, float] = {}
    runs_range = range(args.runs)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        minimal = Path(tmp) / "minimal.py"
        minimal.write_text(MINIMAL)
        peer_runs = [cold(browser, str(minimal), "", "Minimal", Path(tempfile.mkdtemp(dir=tmp))) for _ in runs_range]
        peer = statistics.median(render for _, render in peer_runs)
        peer_ready = statistics.median(start for start, _ in peer_runs)
        print(
            f"minimal st.navigation page: {peer:.2f} s (median of {args.runs} cold starts; "
            f"server ready after {peer_ready:.2f} s)"
        )
        for path, text in pages.items():
            runs = [cold(browser, "app/main.py", path, text, Path(tempfile.mkdtemp(dir=tmp))) for _ in runs_range]
            key = path or "/"
            results[key] = statistics.median(render for _, render in runs)
            ready[key] = statistics.median(start for start, _ in runs)
            whole = (ready[key] + results[key]) / (peer_ready + peer)
            print(
                f"/{path:40s} {results[key]:.2f} s  ratio {results[key] / peer:.2f}   "
                f"(ready after {ready[key]:.2f} s; start to page {whole:.2f}x)"
            )
        if args.sections:
            sections = every_section(browser, catalogue, Path(tmp), str(minimal), args.runs)
            worst_section = max(sections, key=lambda k: sections[k][1])
            print(f"worst section: /{worst_section} at {sections[worst_section][1]:.2f}x the minimal page")
        browser.close()
    worst = max(results, key=results.get)
    print(f"worst: /{worst.lstrip('/')} at {results[worst] / peer:.2f}x the minimal page; target 1.5x")
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if args.json:
        print(
            json.dumps(
                {
                    "minimal_s": peer,
                    "minimal_ready_s": peer_ready,
                    "pages_s": results,
                    "ready_s": ready,
                    "ratio": {k: v / peer for k, v in results.items()},
                    "sections": {k: {"s": s, "ratio": r} for k, (s, r) in sections.items()},
                }
            )
        )


if __name__ == "__main__":
    main()
