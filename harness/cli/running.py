"""``irh run``, ``irh baseline save``, ``irh regress``: the commands that run a suite's stages."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.cli.common import (
    ONLY_HELP,
    SUITE_HELP,
    command,
    execution,
    execution_args,
    hint_missing_data,
    suite_of,
)


def register(sub) -> None:
    run = command(sub, "run", "run a suite (cached stages are not recomputed), then evaluate it", RUN_EXAMPLE)
    run.add_argument("suite", help=SUITE_HELP)
    run.add_argument("--only", action="append", metavar="DATASET/SYSTEM", help=ONLY_HELP)
    run.add_argument(
        "--allow-download",
        action="store_true",
        help="let ir_datasets download missing data (size and progress are shown); without it, nothing is downloaded",
    )
    execution_args(run)
    run.set_defaults(func=cmd_run)

    baseline = command(sub, "baseline", "regression baselines (RESULTS/baselines/SUITE.json)", BASELINE_EXAMPLE)
    bsub = baseline.add_subparsers(required=True, metavar="ACTION")
    bsave = command(
        bsub, "save", "run a suite (cache-aware) and save its metrics as the expected values", BASELINE_EXAMPLE
    )
    bsave.add_argument("suite", help=SUITE_HELP)
    execution_args(bsave)
    bsave.add_argument("--baselines", metavar="DIR", help="default: $IRH_BASELINES or RESULTS/baselines")
    bsave.add_argument(
        "--not-covered", action="append", metavar="DATASET/SYSTEM", help="glob; leave these out (not run); repeatable"
    )
    bsave.add_argument("--reason", help="why the --not-covered systems are left out (stored in the baseline)")
    bsave.set_defaults(func=cmd_baseline_save)

    regress = command(
        sub, "regress", "run a suite (cache-aware) and compare with its baseline", "irh regress suites/smoke.toml"
    )
    regress.add_argument("suite", help=SUITE_HELP)
    regress.add_argument("--only", action="append", metavar="DATASET/SYSTEM", help=ONLY_HELP)
    execution_args(regress)
    regress.add_argument("--baselines", metavar="DIR", help="default: $IRH_BASELINES or RESULTS/baselines")
    regress.add_argument("--format", choices=("table", "md", "json"), default="table", help="report format")
    regress.add_argument(
        "--allow-suite-change", action="store_true", help="compare although the suite changed since the baseline"
    )
    regress.add_argument(
        "--out", action="append", metavar="FILE", help="also write the report here (.md/.json by suffix); repeatable"
    )
    regress.set_defaults(func=cmd_regress)


RUN_EXAMPLE = "irh run suites/beir-local.toml --only 'scifact/*' --jobs 2"
BASELINE_EXAMPLE = "irh baseline save suites/smoke.toml --not-covered 'vaswani/*' --reason 'slow on CPU'"


def cmd_run(args) -> int:
    from harness.report.results_text import format_results
    from harness.suite.run import nothing_ran, run_suite

    suite, store = suite_of(args)
    results = run_suite(suite, results=store, only=args.only, allow_download=args.allow_download, **execution(args))
    print(format_results(suite, results))
    hint_missing_data(results)
    if nothing_ran(results):
        print("irh: error: every job was skipped (reasons above); nothing was run", file=sys.stderr)
        return 1
    return 0


def cmd_baseline_save(args) -> int:
    from harness.suite.baseline_runs import baselines_dir, save_suite_baseline

    suite, store = suite_of(args)
    saved = save_suite_baseline(
        suite, store, baselines_dir(args.baselines, store), args.not_covered, args.reason, **execution(args)
    )
    print(f"saved {saved.n_values} expected values of suite {suite.name!r} to {saved.path}")
    if saved.left_out:
        print(f"not covered: {', '.join(saved.left_out)}: {args.reason}")
    return 0


def cmd_regress(args) -> int:
    from harness.store import write_text_atomic
    from harness.suite.baseline_runs import baselines_dir, regress_suite
    from harness.suite.regression import passed
    from harness.suite.regression_report import format_for_path, format_report

    suite, store = suite_of(args)
    directory = baselines_dir(args.baselines, store)
    baseline, path, rows = regress_suite(suite, store, directory, args.only, args.allow_suite_change, **execution(args))
    print(format_report(args.format, suite, baseline, str(path), rows))
    for out in args.out or []:
        write_text_atomic(Path(out), format_report(format_for_path(out, args.format), suite, baseline, str(path), rows))
    return 0 if passed(rows) else 1
