"""What every command module shares: the store and suite from the command line, the execution options."""

from __future__ import annotations

import argparse
import sys


def store_of(args):
    from harness.suite.loading import open_store

    return open_store(args.results)


def suite_of(args, check_datasets: bool = True):
    from harness.suite.loading import open_suite

    store = store_of(args)
    return open_suite(args.suite, store, check_datasets), store


def execution_args(p: argparse.ArgumentParser) -> None:
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
