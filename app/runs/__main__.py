"""Training runs from the command line.

    python -m app.runs start ALGORITHM [--key value ...] [--detach]
    python -m app.runs list [--status running] [--group GROUP]
    python -m app.runs show ID
    python -m app.runs stop ID

`start` prints the run id, then follows its progress until it ends (Ctrl-C stops the run);
with --detach it returns at once and the run goes on in the background. A run started as one of
a seed group (the Runs page's "seeds") shows its group in `list` and `show`; `list --group GROUP`
lists that group's runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from algorithms import load, registry
from algorithms.contract import config_fields
from app.runs.backends import open_manager
from app.runs.configs import ConfigError
from app.runs.manager import CapacityError, RunManager
from app.runs.store import ACTIVE, STATUSES, RunRecord, StoreUnavailable


def parse_settings(pairs: list[str]) -> dict[str, str]:
    """['--total-episodes', '200', '--no-baseline'] -> {'total_episodes': '200', 'baseline': 'false'}."""
    settings: dict[str, str] = {}
    index = 0
    while index < len(pairs):
        token = pairs[index]
        if not token.startswith("--"):
            raise ConfigError(f"expected --key value, got '{token}'")
        key = token[2:].replace("-", "_")
        if "=" in key:
            key, value = key.split("=", 1)
            index += 1
        elif index + 1 < len(pairs) and not pairs[index + 1].startswith("--"):
            value = pairs[index + 1]
            index += 2
        elif key.startswith("no_"):
            key, value = key[3:], "false"
            index += 1
        else:
            value = "true"
            index += 1
        settings[key] = value
    return settings


def summary(record: RunRecord) -> str:
    duration = f"{record.duration:.0f}s" if record.duration is not None else "-"
    final = record.final_metrics.get("eval_return_mean")
    final_text = f" eval {final:.1f}" if isinstance(final, int | float) else ""
    group_text = f"  group {record.group_id}" if record.group_id else ""
    return (
        f"{record.id}  {record.status:<8}  {record.algorithm:<10}  {record.device or '-':<12}  "
        f"{duration:>6}  {record.progress:4.0%}{final_text}{group_text}"
    )


def follow(manager: RunManager, run_id: str) -> int:
    seen = 0
    try:
        while True:
            for seq, point in manager.store.metrics(run_id, after_seq=seen):
                seen = seq
                keys = [k for k in ("global_step", "charts/episodic_return", "losses/policy") if k in point]
                print("  " + "  ".join(f"{k.split('/')[-1]}={point[k]:.4g}" for k in keys), flush=True)
            record = manager.get(run_id)
            if record.status not in ACTIVE:
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping...", file=sys.stderr)
        record = manager.stop(run_id)
    print(f"{record.status}: {record.error or json.dumps(record.final_metrics)}")
    return 0 if record.status == "finished" else 1


def main(argv: list[str] | None = None) -> int:
    """The command line; a data folder or setting that cannot be used is one line on stderr, exit 2."""
    try:
        return _main(argv)
    except (StoreUnavailable, CapacityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.runs", description="Start, list, show and stop runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a run: ALGORITHM [--key value ...]")
    start.add_argument("algorithm", help=f"one of: {', '.join(sorted(registry()))}")
    start.add_argument("--detach", action="store_true", help="return at once; the run goes on")
    start.add_argument("--label", help="a name to find the run by")
    listing = sub.add_parser("list", help="list runs")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--group", help="only the runs of this seed group")
    show = sub.add_parser("show", help="a run's config, status, final metrics and log")
    show.add_argument("run_id")
    stop = sub.add_parser("stop", help="stop a run (within seconds)")
    stop.add_argument("run_id")
    for p in (start, listing, show, stop):
        p.add_argument("--data-dir", help="default: $RLDOJO_DATA_DIR or ./.rldojo")
    args, rest = parser.parse_known_args(argv)
    manager = open_manager(args.data_dir)

    if args.command == "start":
        try:
            settings = parse_settings(rest)
            run_id = manager.start(args.algorithm, settings, session="cli", label=args.label)
        except (ConfigError, KeyError) as exc:
            print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            _, config_class, _ = load(args.algorithm) if args.algorithm in registry() else (None, None, None)
            if config_class is not None:
                for f in config_fields(config_class):
                    print(f"  --{f['name'].replace('_', '-')} (default {f['default']!r}): {f['help']}", file=sys.stderr)
            return 2
        print(run_id, flush=True)
        position = manager.store.queue_position(run_id)
        if position:
            print(f"queued: position {position}", flush=True)
        return 0 if args.detach else follow(manager, run_id)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "list":
        manager.reconcile()
        for record in manager.store.list(statuses=[args.status] if args.status else None, group=args.group):
            print(summary(record))
        return 0
    try:
        if args.command == "show":
            manager.reconcile()
            record = manager.store.get(args.run_id)
            if record is None:
                raise KeyError(f"no run with id '{args.run_id}'")
            print(summary(record))
            print(
                json.dumps(
                    {
                        "label": record.label,
                        "group": record.group_id,
                        "config": record.config,
                        "final_metrics": record.final_metrics,
                        "artifacts": record.artifacts,
                        "error": record.error,
                    },
                    indent=2,
                )
            )
            tail = manager.log_tail(args.run_id)
            if tail:
                print("--- log (last lines) ---\n" + tail)
            return 0
        record = manager.stop(args.run_id)
        print(summary(record))
        return 0
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
