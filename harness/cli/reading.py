"""``irh show``, ``irh compare``, ``irh report``: read the store, never run a system (``irh eval``: cli.evaluation)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.cli.common import SUITE_HELP, command, suite_of, warn_missing
from harness.core.errors import HarnessError


def register(sub) -> None:
    show = command(
        sub, "show", "print a suite's results table from the store", "irh show suites/trec-dl.toml --per-query"
    )
    show.add_argument("suite", help=SUITE_HELP)
    show.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help="output format (csv: with --per-query)"
    )
    show.add_argument(
        "--per-query",
        action="store_true",
        help="every query's value of every stored run, as trec_eval -q prints it (or --format json|csv)",
    )
    show.set_defaults(func=cmd_show)

    cmp = command(
        sub,
        "compare",
        "significance tests, W/T/L and win analysis vs the baseline, from stored runs (runs nothing)",
        "irh compare suites/trec-dl.toml --metric nDCG@10 --baseline bm25",
    )
    cmp.add_argument("suite", help=SUITE_HELP)
    cmp.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    cmp.add_argument("--metric", help="metric of the W/T/L column, win analysis and plots (default: the suite's first)")
    cmp.add_argument(
        "--baseline", nargs="+", action="extend", metavar="NAME", help="baseline system(s) (default: the suite's)"
    )
    cmp.add_argument("--no-plots", action="store_true", help="store tables only")
    cmp.add_argument(
        "--condensed", action="store_true", help="evaluate condensed lists (unjudged documents removed) first"
    )
    cmp.set_defaults(func=cmd_compare)

    rep = command(
        sub,
        "report",
        "render a suite's stored results as HTML, LaTeX or Markdown (runs nothing)",
        "irh report suites/beir-local.toml --format html --out report.html",
    )
    rep.add_argument("suite", help=SUITE_HELP)
    rep.add_argument("--format", choices=("html", "latex", "md"), default="html", help="report format")
    rep.add_argument(
        "--out", metavar="PATH", help="file (html, md; '-' = stdout) or folder (latex); default reports/SUITE/..."
    )
    rep.set_defaults(func=cmd_report)


def cmd_show(args) -> int:
    from harness.report.results_text import format_results
    from harness.suite.results import read_results

    if args.per_query or args.format == "csv":
        return show_per_query(args)
    suite, store = suite_of(args, check_datasets=False)
    results = read_results(suite, store)
    as_json = json.dumps(results.nested(), indent=2, sort_keys=True)
    print(as_json if args.format == "json" else format_results(suite, results))
    return 0


def show_per_query(args) -> int:
    """``irh show --per-query``: the stored per-query values (trec_eval -q text, JSON or CSV)."""
    from harness.report.per_query import format_trec_eval, to_csv, to_json
    from harness.suite.results import read_results

    if not args.per_query:
        raise HarnessError("CSV is per-query values only: add --per-query", field="--format")
    suite, store = suite_of(args, check_datasets=False)
    results = read_results(suite, store)
    warn_missing(results)
    per_query = results.per_query
    if per_query.empty:
        raise HarnessError("no stored runs: run `irh run` first", file=str(suite.path))
    if args.format == "json":
        print(to_json(per_query))
    elif args.format == "csv":
        print(to_csv(per_query), end="")
    else:
        order = {key: list(suite.metrics_for(key[0])) for key in results.info}
        print(format_trec_eval(per_query, order))
    return 0


def cmd_compare(args) -> int:
    from harness.analysis.suite_comparison import chosen
    from harness.report.stored_comparison import directory, ensure_comparison, read_comparison, read_summary
    from harness.report.terminal import format_comparison
    from harness.suite.results import read_results

    suite, store = suite_of(args, check_datasets=False)
    results = read_results(suite, store, condensed=args.condensed)
    warn_missing(results)
    if not results.info:
        raise HarnessError("no stored runs to compare: run `irh run` first", file=str(suite.path))
    baselines, metric = chosen(suite, args.baseline, args.metric)
    ensure_comparison(suite, results, store, baselines, metric, with_plots=not args.no_plots)
    out_dir = directory(store, suite, results.condensed)  # what is printed is what is stored, computed now or before
    if args.format == "json":
        print(json.dumps(read_summary(out_dir), indent=1, sort_keys=True, ensure_ascii=False))
    else:
        print(format_comparison(read_comparison(out_dir), out_dir))
    return 0


def cmd_report(args) -> int:
    from harness.report.context import gather
    from harness.report.html import render_html
    from harness.report.markdown import render_markdown
    from harness.report.render import check_out, default_out, write_report

    if args.out == "-" and args.format == "latex":
        raise HarnessError("--out -: LaTeX is a folder (report.tex, tables/, figures/); give a folder")
    suite, store = suite_of(args, check_datasets=False)
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
