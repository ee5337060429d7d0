"""What every command module shares: the store and suite from the command line, the execution options."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("irh")


def anchor_of(args) -> Path | None:
    """The file whose project the command works in: its suite or training config; None: the current directory."""
    given = getattr(args, "suite", None) or getattr(args, "config", None)
    return Path(given) if given else None


def store_of(args):
    """The command's store, found once (see harness.suite.loading); its first use says which store it is."""
    from harness.store import Store
    from harness.suite.loading import locate_store, use_project_data

    if getattr(args, "resolved_store", None) is None:
        location = locate_store(args.results, anchor_of(args))
        data = use_project_data(anchor_of(args))
        log.info("%s%s", location.describe(), f"; data: {data}" if data else "")
        args.resolved_store = Store(location.path)
    return args.resolved_store


def suite_of(args, check_datasets: bool = True):
    from harness.suite.loading import open_suite

    store = store_of(args)
    return open_suite(args.suite, store, check_datasets), store


def command(sub, name: str, help: str, example: str) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does and shows one example."""
    return sub.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


SUITE_HELP = "suite file (TOML), e.g. suites/smoke.toml; its project holds the store"
ONLY_HELP = "only these stages (glob on DATASET/SYSTEM, e.g. 'scifact/*'); repeatable"


def execution_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="stages run in parallel (default: 1)")
    p.add_argument(
        "--backend",
        default="loky",  # the runner checks the name against its BACKENDS
        help="where jobs run: local processes (loky), a Dask cluster or a Ray cluster (store on a shared filesystem)",
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler (tcp://host:8786) or Ray cluster address")


def execution(args) -> dict:
    return {"jobs": args.jobs, "backend": args.backend, "scheduler": args.scheduler}


def warn_missing(results) -> None:
    for d, s in results.missing:
        print(f"irh: missing run {d}/{s}: {results.missing_reason(d, s)}; left out", file=sys.stderr)


def hint_missing_data(results) -> None:
    """Once, when stages were skipped for want of local data: what to set."""
    from harness.suite.loading import missing_data_hint

    if any("not available locally" in reason for _, _, reason in results.skipped):
        print(f"irh: some data is not available locally: {missing_data_hint()}", file=sys.stderr)
