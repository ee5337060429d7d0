"""``irh``: run suites, evaluate, show results, manage the cache, prepare offline data."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from harness.errors import HarnessError

DEFAULT_RESULTS = "results"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if not args.quiet else logging.WARNING, format="irh: %(message)s")
    try:
        return args.func(args) or 0
    except HarnessError as e:
        print(f"irh: error: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="irh", description=__doc__)
    p.add_argument(
        "--results",
        default=os.environ.get("IRH_RESULTS", DEFAULT_RESULTS),
        help="store directory (default: $IRH_RESULTS or ./results)",
    )
    p.add_argument("-q", "--quiet", action="store_true")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite (cached stages are not recomputed), then evaluate it")
    run.add_argument("suite")
    run.add_argument("--only", action="append", metavar="DATASET/SYSTEM", help="glob; repeatable")
    run.add_argument("--jobs", type=int, default=1, help="jobs run in parallel (joblib)")
    run.set_defaults(func=cmd_run)

    ev = sub.add_parser("eval", help="evaluate the stored runs of a suite (runs nothing)")
    ev.add_argument("suite")
    ev.add_argument("--only", action="append", metavar="DATASET/SYSTEM")
    ev.set_defaults(func=cmd_eval)

    show = sub.add_parser("show", help="print a suite's results table")
    show.add_argument("suite")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(func=cmd_show)

    cache = sub.add_parser("cache", help="list, remove or verify stored entries")
    csub = cache.add_subparsers(required=True, metavar="ACTION")
    ls = csub.add_parser("ls", help="list stored runs")
    ls.set_defaults(func=cmd_cache_ls)
    rm = csub.add_parser("rm", help="remove entries by key (prefix) or every run of a system")
    rm.add_argument("keys", nargs="*")
    rm.add_argument("--system", help="remove every stored run of this system name")
    rm.set_defaults(func=cmd_cache_rm)
    verify = csub.add_parser("verify", help="check every entry against its recorded sha256")
    verify.set_defaults(func=cmd_cache_verify)

    data = sub.add_parser("data", help="offline data")
    dsub = data.add_subparsers(required=True, metavar="ACTION")
    prep = dsub.add_parser("prepare", help="lay out an ir_datasets home from a folder of files")
    prep.add_argument("dir", help="the ir_datasets home to create (use it as IR_DATASETS_HOME)")
    prep.add_argument(
        "--source",
        default=os.environ.get("IRH_SHARED_DATA", "../shared/data"),
        help="folder with make_irds_home.py and the files (default: $IRH_SHARED_DATA or ../shared/data)",
    )
    prep.set_defaults(func=cmd_data_prepare)
    return p


def _store(args):
    from harness.store import Store

    return Store(args.results)


def _suite(args, check_datasets: bool = True):
    from harness.suite import load_suite

    store = _store(args)
    return load_suite(args.suite, check_datasets=check_datasets, digest_dir=str(store.digests_dir)), store


def cmd_run(args) -> int:
    from harness.runner import run_suite
    from harness.tables import format_results

    suite, store = _suite(args)
    _, results = run_suite(suite, store, args.only, args.jobs)
    print(format_results(suite, results))
    return 0


def cmd_eval(args) -> int:
    from harness.plan import plan
    from harness.results import evaluate_jobs
    from harness.tables import format_results

    suite, store = _suite(args)
    print(format_results(suite, evaluate_jobs(suite, plan(suite, store, args.only), store)))
    return 0


def cmd_show(args) -> int:
    from harness.plan import plan
    from harness.results import evaluate_jobs
    from harness.tables import format_results

    suite, store = _suite(args)
    results = evaluate_jobs(suite, plan(suite, store), store)
    if args.format == "json":
        print(json.dumps(results.nested(), indent=2, sort_keys=True))
    else:
        print(format_results(suite, results))
    return 0


def cmd_cache_ls(args) -> int:
    for meta in _store(args).entries("runs"):
        print(
            f"{meta['key'][:16]}  {meta.get('dataset_name', '?'):<12} {meta.get('system', '?'):<20} "
            f"{meta.get('n_queries', '?'):>6} queries  {meta.get('wall_seconds', 0):8.1f}s  {meta.get('created', '')}"
        )
    return 0


def cmd_cache_rm(args) -> int:
    store = _store(args)
    removed = 0
    for meta in list(store.entries("runs")):
        key = meta["key"]
        if any(key.startswith(k) for k in args.keys) or (args.system and meta.get("system") == args.system):
            removed += store.remove("runs", key)
    print(f"removed {removed} run(s)")
    return 0


def cmd_cache_verify(args) -> int:
    problems = _store(args).verify()
    for p in problems:
        print(p)
    print("cache OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def cmd_data_prepare(args) -> int:
    script = Path(args.source) / "make_irds_home.py"
    if not script.exists():
        raise HarnessError("no make_irds_home.py in the data folder", file=str(args.source), field="--source")
    return subprocess.call([sys.executable, str(script), args.dir])


if __name__ == "__main__":
    sys.exit(main())
