"""``irh eval``: evaluate run files against judgments (no suite, no store), or the stored runs of a suite.

The two forms are told apart by ``--qrels``: with it, every argument is a run file (the trec_eval / ir_measures
one-liner); without it, the one argument is a suite. A flag rather than a guess from the file name, so a run file
that happens to end in ``.toml`` (or a suite found by name) is never taken for the other.

Run files are evaluated exactly as a suite's runs are (harness.api.evaluate: trec_eval's tie order, ``-c``, judged
queries only) and ``--compare`` is harness.api.compare with the suite defaults (first run = baseline).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli.common import command, suite_of
from harness.core.errors import HarnessError

if TYPE_CHECKING:  # pandas and the statistics are loaded only when a command runs
    import pandas as pd

    from harness.analysis.comparison import Comparison
    from harness.core.run import Run

DEFAULT_METRICS = ("nDCG@10", "RR@10", "AP@1000", "R@1000")
DEPTH_MARK, UP, DOWN = "†", "▲", "▼"


def register(sub) -> None:
    ev = command(
        sub,
        "eval",
        "evaluate run files against judgments (--qrels), or the stored runs of a suite (runs nothing)",
        "irh eval bm25=run.bm25.txt tas-b=run.tasb.txt --qrels msmarco-passage/trec-dl-2019/judged --compare\n"
        "  irh eval suites/trec-dl.toml\n"
        "--qrels tells the forms apart: with it every argument is a run file (NAME=PATH names a run; default: the\n"
        "file name), without it the one argument is a suite.",
    )
    ev.add_argument("inputs", nargs="+", metavar="RUN|SUITE", help="run files ([NAME=]PATH) with --qrels, else a suite")
    ev.add_argument("--qrels", metavar="FILE|IRDS_ID", help="TREC qrels file or ir_datasets id: evaluate run files")
    ev.add_argument("--metrics", nargs="+", metavar="MEASURE", help=f"default: {' '.join(DEFAULT_METRICS)}")
    ev.add_argument(
        "--rel",
        type=int,
        metavar="N",
        help="relevance level of binary measures (AP, RR, R, P, ...) given without rel=; default: the level of "
        "the dataset's official measures for an ir_datasets id (2 for TREC DL), else 1 (trec_eval's default)",
    )
    ev.add_argument("--compare", action="store_true", help="significance vs the first run (corrected over all tests)")
    ev.add_argument("--test", default=None, help="t-test (default), wilcoxon or randomization")
    ev.add_argument("--correction", default=None, help="holm (default), bonferroni, bh or none")
    ev.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    ev.add_argument("--only", action="append", metavar="DATASET/SYSTEM", help="suite form: glob; repeatable")
    ev.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    if args.qrels is None:
        return _eval_suite(args)
    if args.only:
        raise HarnessError("--only selects a suite's runs; with --qrels the arguments are the run files")
    report = evaluate_files(args)
    print(json.dumps(report.to_json(), indent=1) if args.format == "json" else report.to_text())
    return 0


def _eval_suite(args) -> int:
    from harness.report.results_text import format_results
    from harness.suite.results import read_results

    if len(args.inputs) != 1:
        raise HarnessError(f"{len(args.inputs)} arguments and no --qrels: give --qrels to evaluate run files")
    file_only = [f"--{n}" for n in ("metrics", "rel", "compare", "test", "correction") if getattr(args, n)]
    if file_only or args.format != "table":
        raise HarnessError(f"{', '.join(file_only or ['--format'])}: for run files (with --qrels), not a suite")
    args.suite = args.inputs[0]
    suite, store = suite_of(args, check_datasets=False)
    print(format_results(suite, read_results(suite, store, args.only)))
    return 0


# ---------------------------------------------------------------- run files
@dataclass
class FileEvaluation:
    qrels: str
    judged_queries: int
    rel: int
    rel_source: str
    runs: dict[str, Path]
    depths: dict[str, int]
    covered: dict[str, int]  # judged queries the run has results for
    per_query: pd.DataFrame  # system, query_id, measure, value
    means: pd.DataFrame  # system, measure, value, depth_limited
    comparison: Comparison | None

    def to_json(self) -> dict[str, Any]:
        from harness.analysis.comparison import records

        runs = [
            {"name": n, "path": str(p), "depth": self.depths[n], "judged_queries_with_results": self.covered[n]}
            for n, p in self.runs.items()
        ]
        out = {
            "qrels": self.qrels,
            "judged_queries": self.judged_queries,
            "rel": self.rel,
            "rel_source": self.rel_source,
            "runs": runs,
            "means": records(self.means),
        }
        if self.comparison is not None:
            out["comparison"] = self.comparison.to_dict()
        return out

    def to_text(self) -> str:
        measures = list(dict.fromkeys(self.means["measure"]))
        cell = {(r.system, r.measure): r for r in self.means.itertuples(index=False)}
        rows = []
        for name in self.runs:
            values = [f"{cell[name, m].value:.4f}{DEPTH_MARK if cell[name, m].depth_limited else ''}" for m in measures]
            rows.append([name, str(self.depths[name]), f"{self.covered[name]}/{self.judged_queries}", *values])
        out = [
            f"qrels {self.qrels}: {self.judged_queries} judged queries; binary measures at rel ≥ {self.rel} "
            f"({self.rel_source})",
            _grid(["run", "depth", "queries", *measures], rows),
        ]
        if self.means["depth_limited"].any():
            out.append(
                f"  {DEPTH_MARK} depth-limited: the run is shallower than the metric's cut-off "
                "(e.g. AP/R@1000 on a top-100 run), not comparable to full-depth figures"
            )
        out.append("  a judged query a run has no results for counts 0 (trec_eval -c); unjudged queries are left out")
        if self.comparison is not None:
            out += ["", *_comparison_text(self.comparison, next(iter(self.runs)))]
        return "\n".join(out) + "\n"


def evaluate_files(args: argparse.Namespace) -> FileEvaluation:
    from harness.api import compare, evaluate, load_qrels, load_run
    from harness.core.evaluate import aggregate_frame
    from harness.core.measures import is_depth_limited, label
    from harness.data.datasets import default_excludes_self_matches

    runs = _named_runs(args.inputs)
    judgments = load_qrels(args.qrels)
    if not judgments:
        raise HarnessError("no judgments", file=args.qrels)
    irds_id = None if Path(args.qrels).exists() else args.qrels
    rel, rel_source = _relevance_level(args.rel, irds_id)
    measures = [label(m) for m in _with_rel(args.metrics or DEFAULT_METRICS, rel)]
    loaded: dict[str, Run] = {name: load_run(path) for name, path in runs.items()}
    self_matches = irds_id is not None and default_excludes_self_matches(irds_id)
    per_query = evaluate(loaded, judgments, measures, per_query=True, exclude_self_matches=self_matches)
    means = aggregate_frame(per_query.rename(columns={"measure": "metric"}), ["system"])
    means = means.rename(columns={"metric": "measure"})
    depths = {name: run.depth() for name, run in loaded.items()}
    means["depth_limited"] = [
        is_depth_limited(m, depths[s]) for s, m in zip(means["system"], means["measure"], strict=True)
    ]
    comparison = None
    if args.compare:
        if len(runs) < 2:
            raise HarnessError("--compare needs at least two runs (the first is the baseline)")
        limited = [("", s, m) for s, m, lim in means[["system", "measure", "depth_limited"]].itertuples(index=False)
                   if lim]  # fmt: skip  # as irh compare: a depth-limited measure is n/c, not tested
        comparison = compare(per_query, next(iter(runs)), **_significance(args), depth_limited=limited)
    return FileEvaluation(
        qrels=args.qrels,
        judged_queries=len(judgments),
        rel=rel,
        rel_source=rel_source,
        runs=runs,
        depths=depths,
        covered={n: len(run.query_ids & judgments.keys()) for n, run in loaded.items()},
        per_query=per_query,
        means=means,
        comparison=comparison,
    )


def _named_runs(inputs: list[str]) -> dict[str, Path]:
    """NAME=PATH or PATH (named by its file name); each name once."""
    runs: dict[str, Path] = {}
    for given in inputs:
        name, sep, path = given.partition("=")
        if not sep or Path(given).exists():
            name, path = Path(given).name, given
        if name in runs:
            raise HarnessError(f"two runs named {name!r}: name them with NAME=PATH", file=path)
        runs[name] = Path(path)
    return runs


def _relevance_level(given: int | None, irds_id: str | None) -> tuple[int, str]:
    if given is not None:
        if given < 1:
            raise HarnessError(f"--rel {given}: a relevance level is at least 1")
        return given, "--rel"
    official = _official_level(irds_id) if irds_id else None
    if official is not None:
        return official, f"the official measures of {irds_id} in ir_datasets"
    return 1, "trec_eval's default; --rel N to change"


def _official_level(irds_id: str) -> int | None:
    """The rel= of the binary measures ir_datasets documents as a dataset's official ones (TREC DL: 2)."""
    import ir_datasets

    from harness.core.measures import parse_metric

    official = ir_datasets.load(irds_id).documentation().get("official_measures", [])
    levels = {parse_metric(m).params.get("rel") for m in official}
    levels.discard(None)
    return levels.pop() if len(levels) == 1 else None


def _with_rel(names: Any, rel: int) -> list:
    """The measures, binary ones without an explicit rel= taking ``rel``."""
    from harness.core.measures import parse_metrics

    out = []
    for m in parse_metrics(names):
        takes_rel = "rel" in m.SUPPORTED_PARAMS and "rel" not in m.params and m.NAME != "NumRel"
        out.append(m(rel=rel) if takes_rel and rel != 1 else m)
    return out


def _significance(args: argparse.Namespace) -> dict[str, Any]:
    from harness.core.significance import Correction, Test
    from harness.suite.config import Significance

    default = Significance()  # the suite's defaults, written once there
    try:
        test = Test.parse(args.test) if args.test else default.test
        correction = Correction.parse(args.correction) if args.correction else default.correction
    except ValueError as e:
        raise HarnessError(str(e)) from None
    return {
        "test": test,
        "correction": correction,
        "alpha": default.alpha,
        "tie_tolerance": default.tie_tolerance,
        "n_permutations": default.n_permutations,
    }


def _comparison_text(cmp: Comparison, baseline: str) -> list[str]:
    t = cmp.to_frame()
    out = [
        f"compared with {baseline} ({cmp.test.label}, {cmp.correction.label} correction over all {len(t)} "
        f"comparisons, α = {cmp.alpha:g}; {UP}/{DOWN}: significantly better/worse; W/T/L: queries won/tied/lost)"
    ]
    for measure, rows in t.groupby("measure", sort=False):
        cells = [
            [
                r.system,
                f"{r.mean:.4f}",
                f"{r.delta:+.4f}",
                f"{r.p:.4g}",
                f"{r.p_corrected:.4g}{(UP if r.delta > 0 else DOWN) if r.significant else ''}",
                f"{r.wins}/{r.ties}/{r.losses}",
            ]
            for r in rows.itertuples(index=False)
        ]
        base_mean = rows["baseline_mean"].iloc[0]
        out.append(f"{measure} (baseline {base_mean:.4f})")
        out.append(_grid(["run", "mean", "Δ", "p", "p corrected", "W/T/L"], cells))
    return out


def _grid(header: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    """A plain grid as the other tables of the terminal: first column left-aligned, the others right-aligned."""
    from tabulate import tabulate

    align = ("left",) + ("right",) * (len(header) - 1)
    text = tabulate(rows, headers=header, tablefmt="simple", colalign=align, disable_numparse=True)
    return "\n".join(indent + line for line in text.splitlines())
