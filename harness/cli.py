"""``irh``: run suites, evaluate, show results, manage the cache, prepare offline data."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from harness import __version__
from harness.core.errors import STORAGE_ERRNOS, HarnessError, storage_message


def main(argv: list[str] | None = None) -> int:
    from harness.core import interrupt

    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if not args.quiet else logging.WARNING, format="irh: %(message)s")
    with interrupt.handling():
        try:
            return args.func(args) or 0
        except HarnessError as e:
            print(f"irh: error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as e:
            interrupt.report(str(e) or None)
            if argv is None:  # this process is the command (not a caller of main): end it now
                interrupt.exit_now()
            return interrupt.EXIT_CODE
        except OSError as e:
            if e.errno not in STORAGE_ERRNOS:
                raise
            _discard_partial(args.results)
            print(f"irh: error: {storage_message(e, _store(args).root)}", file=sys.stderr)
            return 2


def _discard_partial(results: str | None) -> None:
    from harness.suite.loading import open_store
    from harness.suite.runner import discard_partial

    discard_partial(open_store(results))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="irh", description=__doc__)
    p.add_argument(
        "--results",
        help="store directory (default: $IRH_RESULTS or ./results)",
    )
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--version", action="version", version=f"irh {__version__}")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite (cached stages are not recomputed), then evaluate it")
    run.add_argument("suite")
    run.add_argument("--only", action="append", metavar="DATASET/SYSTEM", help="glob; repeatable")
    run.add_argument("--jobs", type=int, default=1, help="jobs run in parallel (joblib)")
    _execution_args(run)
    run.set_defaults(func=cmd_run)

    ev = sub.add_parser("eval", help="evaluate the stored runs of a suite (runs nothing)")
    ev.add_argument("suite")
    ev.add_argument("--only", action="append", metavar="DATASET/SYSTEM")
    ev.set_defaults(func=cmd_eval)

    show = sub.add_parser("show", help="print a suite's results table")
    show.add_argument("suite")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(func=cmd_show)

    cmp = sub.add_parser(
        "compare", help="significance tests, W/T/L and win analysis vs the baseline, from stored runs (runs nothing)"
    )
    cmp.add_argument("suite")
    cmp.add_argument("--format", choices=("table", "json"), default="table")
    cmp.add_argument("--metric", help="metric of the W/T/L column, win analysis and plots (default: the suite's first)")
    cmp.add_argument(
        "--baseline", nargs="+", action="extend", metavar="NAME", help="baseline system(s) (default: the suite's)"
    )
    cmp.add_argument("--no-plots", action="store_true", help="store tables only")
    cmp.set_defaults(func=cmd_compare)

    rep = sub.add_parser("report", help="render a suite's stored results as HTML, LaTeX or Markdown (runs nothing)")
    rep.add_argument("suite")
    rep.add_argument("--format", choices=("html", "latex", "md"), default="html")
    rep.add_argument(
        "--out", metavar="PATH", help="file (html, md; '-' = stdout) or folder (latex); default reports/SUITE/..."
    )
    rep.set_defaults(func=cmd_report)

    cache = sub.add_parser("cache", help="list, remove or verify stored entries")
    csub = cache.add_subparsers(required=True, metavar="ACTION")
    ls = csub.add_parser("ls", help="list stored runs")
    ls.set_defaults(func=cmd_cache_ls)
    rm = csub.add_parser("rm", help="remove entries by key (prefix) or every run of a system")
    rm.add_argument("keys", nargs="*")
    rm.add_argument("--system", help="remove the stored runs of this system name")
    rm.add_argument("--all", action="store_true", help="remove every run a key prefix or --system matches")
    rm.set_defaults(func=cmd_cache_rm)
    verify = csub.add_parser(
        "verify", help="check every run, evaluation, artefact and stored comparison against its recorded sha256"
    )
    verify.add_argument(
        "--repair", action="store_true", help="drop what fails, so the next `irh run` recomputes exactly that"
    )
    verify.set_defaults(func=cmd_cache_verify)

    baseline = sub.add_parser("baseline", help="regression baselines (results/baselines/SUITE.json)")
    bsub = baseline.add_subparsers(required=True, metavar="ACTION")
    bsave = bsub.add_parser("save", help="run a suite (cache-aware) and save its metrics as the expected values")
    bsave.add_argument("suite")
    bsave.add_argument("--jobs", type=int, default=1, help="jobs run in parallel (joblib)")
    _execution_args(bsave)
    bsave.add_argument("--baselines", metavar="DIR", help="default: $IRH_BASELINES or RESULTS/baselines")
    bsave.add_argument(
        "--not-covered", action="append", metavar="DATASET/SYSTEM", help="glob; leave these out (not run); repeatable"
    )
    bsave.add_argument("--reason", help="why the --not-covered systems are left out (stored in the baseline)")
    bsave.set_defaults(func=cmd_baseline_save)

    regress = sub.add_parser("regress", help="run a suite (cache-aware) and compare with its baseline")
    regress.add_argument("suite")
    regress.add_argument("--only", action="append", metavar="DATASET/SYSTEM", help="glob; repeatable")
    regress.add_argument("--jobs", type=int, default=1, help="jobs run in parallel (joblib)")
    _execution_args(regress)
    regress.add_argument("--baselines", metavar="DIR", help="default: $IRH_BASELINES or RESULTS/baselines")
    regress.add_argument("--format", choices=("table", "md", "json"), default="table")
    regress.add_argument(
        "--allow-suite-change", action="store_true", help="compare although the suite changed since the baseline"
    )
    regress.add_argument(
        "--out", action="append", metavar="FILE", help="also write the report here (.md/.json by suffix); repeatable"
    )
    regress.set_defaults(func=cmd_regress)

    suites = sub.add_parser("suites", help="list the suites, or check what a suite's datasets have on this machine")
    ssub = suites.add_subparsers(required=True, metavar="ACTION")
    slist = ssub.add_parser("list", help="the suites in a folder")
    slist.add_argument("folder", nargs="?", default="suites")
    slist.set_defaults(func=cmd_suites_list)
    scheck = ssub.add_parser("check", help="docs/queries/qrels: local, download needed (size), or licensed")
    scheck.add_argument("suite")
    scheck.set_defaults(func=cmd_suites_check)

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

    tr = sub.add_parser("train", help="train a model from a training config (resumes from its last checkpoint)")
    tr.add_argument("config", help="training config, e.g. suites/train/scifact-ce-pointwise.toml")
    tr.add_argument("--max-steps", type=int, metavar="N", help="train at most N steps now, checkpoint, stop")
    tr.add_argument("--no-eval", action="store_true", help="skip the config's [eval] when training ends")
    tr.add_argument("--threads", type=int, help="torch threads (default: the config's train.threads)")
    tr.set_defaults(func=cmd_train)
    return p


def _store(args):
    from harness.suite.loading import open_store

    return open_store(args.results)


def _suite(args, check_datasets: bool = True):
    from harness.suite.loading import open_suite

    store = _store(args)
    return open_suite(args.suite, store, check_datasets), store


def _execution(args) -> dict:
    return {"jobs": args.jobs, "backend": args.backend, "scheduler": args.scheduler}


def _warn_missing(results) -> None:
    for d, s in results.missing:
        print(f"irh: missing run {d}/{s}: {results.missing_reason(d, s)}; left out", file=sys.stderr)


def cmd_run(args) -> int:
    from harness.report.terminal import format_results
    from harness.suite.run import run_suite

    suite, store = _suite(args)
    print(format_results(suite, run_suite(suite, results=store, only=args.only, **_execution(args))))
    return 0


def cmd_eval(args) -> int:
    from harness.report.terminal import format_results
    from harness.suite.results import read_results

    suite, store = _suite(args, check_datasets=False)
    print(format_results(suite, read_results(suite, store, args.only)))
    return 0


def cmd_show(args) -> int:
    from harness.report.terminal import format_results
    from harness.suite.results import read_results

    suite, store = _suite(args, check_datasets=False)
    results = read_results(suite, store)
    as_json = json.dumps(results.nested(), indent=2, sort_keys=True)
    print(as_json if args.format == "json" else format_results(suite, results))
    return 0


def cmd_compare(args) -> int:
    from harness.report.stored_comparison import compare_stored, directory, save_comparison
    from harness.report.terminal import format_comparison
    from harness.suite.results import read_results

    suite, store = _suite(args, check_datasets=False)
    results = read_results(suite, store)
    _warn_missing(results)
    if results.per_query.empty:
        raise HarnessError("no stored runs to compare: run `irh run` first", file=str(suite.path))
    comparison = compare_stored(suite, results, store, args.baseline, args.metric)
    out_dir = directory(store, suite)
    summary = save_comparison(comparison, out_dir, with_plots=not args.no_plots)
    text = json.dumps(summary, indent=1, sort_keys=True, ensure_ascii=False)
    print(text if args.format == "json" else format_comparison(comparison, out_dir))
    return 0


def cmd_report(args) -> int:
    from harness.report.context import gather
    from harness.report.html import render_html
    from harness.report.markdown import render_markdown
    from harness.report.render import check_out, default_out, write_report

    if args.out == "-" and args.format == "latex":
        raise HarnessError("--out -: LaTeX is a folder (report.tex, tables/, figures/); give a folder")
    suite, store = _suite(args, check_datasets=False)
    out = Path(args.out) if args.out else default_out(suite.name, args.format)
    if args.out != "-":
        check_out(args.format, out)  # before gathering: a bad --out fails at once
    ctx = gather(suite, store)
    for d, s in ctx.missing:
        print(f"irh: missing run {d}/{s}: not in the store (run `irh run` first); left out", file=sys.stderr)
    if args.out == "-":
        print(render_html(ctx) if args.format == "html" else render_markdown(ctx), end="")
    else:
        print(f"wrote {write_report(ctx, args.format, out)}")
    return 0


def cmd_cache_ls(args) -> int:
    for meta in _store(args).entries("runs"):
        print(
            f"{meta['key'][:16]}  {meta.get('dataset_name', '?'):<12} {meta.get('system', '?'):<20} "
            f"{meta.get('n_queries', '?'):>6} queries  {meta.get('wall_seconds', 0):8.1f}s  {meta.get('created', '')}"
        )
    return 0


def cmd_cache_rm(args) -> int:
    if any(not k.strip() for k in args.keys):
        raise HarnessError("cache rm: an empty key would match every run; give a key (prefix)")
    store = _store(args)
    runs = list(store.entries("runs"))
    selectors = [(f"key {k!r}", lambda m, k=k: m["key"].startswith(k)) for k in args.keys]
    if args.system is not None:
        selectors.append((f"--system {args.system!r}", lambda m: m.get("system") == args.system))
    chosen: dict[str, None] = {}  # run keys, each once; nothing is removed before every selector is checked
    for what, matches in selectors:
        hits = [m["key"] for m in runs if matches(m)]
        if len(hits) > 1 and not args.all:
            raise HarnessError(f"cache rm: {what} matches {len(hits)} runs; give more of the key, or --all")
        chosen.update(dict.fromkeys(hits))
    removed = sum(store.remove("runs", key) for key in chosen)
    print(f"removed {removed} run(s)")
    return 0


def cmd_cache_verify(args) -> int:
    store = _store(args)
    if args.repair:
        for p in store.repair():
            print(f"dropped: {p}")
    problems = store.verify()
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s)" + ("" if args.repair else "; `irh cache verify --repair` drops them"))
    else:
        print("cache OK" + ("; run the suites again (`irh run`) to recompute what was dropped" if args.repair else ""))
    return 1 if problems else 0


def _execution_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        default="loky",  # the runner checks the name against its BACKENDS
        help="where jobs run: local processes (loky), a Dask cluster or a Ray cluster (store on a shared filesystem)",
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler (tcp://host:8786) or Ray cluster address")


def cmd_baseline_save(args) -> int:
    from harness.suite.baseline_runs import baselines_dir, save_suite_baseline

    suite, store = _suite(args)
    saved = save_suite_baseline(
        suite, store, baselines_dir(args.baselines, store), args.not_covered, args.reason, **_execution(args)
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

    suite, store = _suite(args)
    directory = baselines_dir(args.baselines, store)
    baseline, path, rows = regress_suite(
        suite, store, directory, args.only, args.allow_suite_change, **_execution(args)
    )
    print(format_report(args.format, suite, baseline, str(path), rows))
    for out in args.out or []:
        write_text_atomic(Path(out), format_report(format_for_path(out, args.format), suite, baseline, str(path), rows))
    return 0 if passed(rows) else 1


def cmd_suites_list(args) -> int:
    from harness.suite.catalogue import list_suites

    for suite in list_suites(Path(args.folder)):
        print(f"{suite.path}  {suite.name}: {len(suite.datasets)} datasets, {len(suite.systems)} systems, "
              f"metrics {', '.join(suite.metrics)}  {suite.description}")  # fmt: skip
    return 0


def cmd_suites_check(args) -> int:
    from harness.suite.catalogue import check_suite

    suite, store = _suite(args)
    print(check_suite(suite, store))
    return 0


def cmd_data_prepare(args) -> int:
    from harness.data.offline import prepare

    placed = prepare(Path(args.dir), Path(args.source))
    print(f"also placed: {', '.join(placed)}" if placed else "nothing extra placed")
    return 0


def cmd_train(args) -> int:
    import dataclasses

    from harness.train.config import load_train_config
    from harness.train.trainer import train

    config = load_train_config(args.config)
    if args.threads:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, threads=args.threads))
    result = train(config, _store(args), max_steps=args.max_steps, evaluate=not args.no_eval)
    if result.status == "stopped":
        print(f"stopped at step {result.end_step}/{config.train.steps}: run `irh train {args.config}` to resume")
        return 0
    card = result.card
    loss = card["loss"]
    print(f"{result.status}: {result.model_dir}  digest {card['digest'][:16]}  "
          f"loss {loss['first_10pct_mean']:.4f} → {loss['last_10pct_mean']:.4f}")  # fmt: skip
    for system, values in ((card.get("metrics") or {}).get("systems") or {}).items():
        print(f"  {card['metrics']['dataset']} {system}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
