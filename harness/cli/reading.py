"""``irh show``, ``irh compare``, ``irh report``: read the store, never run a system (``irh eval``: cli.evaluation)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.cli.common import suite_of, warn_missing
from harness.core.errors import HarnessError


def register(sub) -> None:
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
    cmp.add_argument(
        "--condensed", action="store_true", help="evaluate condensed lists (unjudged documents removed) first"
    )
    cmp.set_defaults(func=cmd_compare)

    rep = sub.add_parser("report", help="render a suite's stored results as HTML, LaTeX or Markdown (runs nothing)")
    rep.add_argument("suite")
    rep.add_argument("--format", choices=("html", "latex", "md"), default="html")
    rep.add_argument(
        "--out", metavar="PATH", help="file (html, md; '-' = stdout) or folder (latex); default reports/SUITE/..."
    )
    rep.set_defaults(func=cmd_report)


def cmd_show(args) -> int:
    from harness.report.results_text import format_results
    from harness.suite.results import read_results

    suite, store = suite_of(args, check_datasets=False)
    results = read_results(suite, store)
    as_json = json.dumps(results.nested(), indent=2, sort_keys=True)
    print(as_json if args.format == "json" else format_results(suite, results))
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
