"""A suite's comparison: every system against the baseline(s) on every dataset × metric (harness.analysis.comparison,
corrected over ALL comparisons of the suite), the per-query deltas, the win analysis by query feature
(harness.analysis.wins) and the quality/cost table. Pure: it takes the stored evaluation (``Results``) and the query
features computed by the caller (harness.analysis.features), and reads nothing; harness.report.stored_comparison
stores it and harness.report.terminal prints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from harness.analysis.aggregate import OVERALL, aggregate
from harness.analysis.features import FEATURES, feature_columns
from harness.core.errors import HarnessError
from harness.core.measures import JUDGED_AT_10
from harness.suite.config import Suite
from harness.suite.results import Results

IMPORTED_KINDS = ("run-file", "scoreddocs")
COMPARISON_FORMAT = 2  # 2: comparable, mde, Judged@10 columns and the test of the suite means
JUDGED_GAP = 0.1  # a comparison is flagged when the system's Judged@10 is this far below the baseline's
WORST_COLUMNS = [
    "dataset", "metric", "baseline", "system", "rank", "query_id", "query", "baseline_value", "system_value", "delta",
]  # fmt: skip


@dataclass
class SuiteComparison:
    """Everything ``irh compare`` shows and stores; tables are long pandas frames with a ``dataset`` column."""

    suite: str
    settings: dict[str, Any]
    baselines: list[str]
    metric: str  # the metric of the win analysis, W/T/L column and plots
    labels: dict[str, str]
    datasets: dict[str, dict[str, Any]]
    means: pd.DataFrame
    comparisons: pd.DataFrame  # harness.analysis.comparison's tidy frame + labels and depth_limited
    deltas: pd.DataFrame
    features: pd.DataFrame
    buckets: pd.DataFrame
    worst: pd.DataFrame
    cost: pd.DataFrame
    mean_tests: pd.DataFrame = field(default_factory=pd.DataFrame)  # the suite means' paired test across datasets
    missing: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    TABLES: ClassVar[dict[str, str]] = {
        "means": "means", "comparisons": "comparisons", "per_query_deltas": "deltas", "features": "features",
        "buckets": "buckets", "worst_queries": "worst", "cost": "cost", "mean_tests": "mean_tests",
    }  # fmt: skip  # stored name → attribute

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables as stored (name → frame)."""
        return {name: getattr(self, attr) for name, attr in self.TABLES.items()}

    def to_json(self) -> dict[str, Any]:
        """Settings and tables as records (``compare.json`` adds where the files are)."""
        from harness.analysis.comparison import records

        worst = self.worst
        if not worst.empty:
            worst = worst[[*WORST_COLUMNS, *feature_columns(worst)]]
        return {
            "suite": self.suite,
            "baselines": self.baselines,
            "metric": self.metric,
            "labels": self.labels,
            "settings": self.settings,
            "datasets": self.datasets,
            "comparisons": records(self.comparisons),
            "means": records(self.means),
            "buckets": records(self.buckets),
            "worst_queries": records(worst),
            "cost": records(self.cost),
            "mean_tests": records(self.mean_tests),
            "missing": [{"dataset": d, "system": s} for d, s in self.missing],
            "skipped": [{"dataset": d, "system": s, "reason": r} for d, s, r in self.skipped],
            "notes": self.notes,
        }


def compare_suite(
    suite: Suite,
    results: Results,
    baselines: list[str] | None = None,
    metric: str | None = None,
    *,
    features: Mapping[str, tuple[pd.DataFrame, dict[str, Any]]] | None = None,
    n_buckets: int = 4,
    worst_n: int = 10,
) -> SuiteComparison:
    """Compare every system with each baseline on every dataset and metric of ``results``. ``features``: dataset →
    (query features, facts about them) from harness.analysis.features.dataset_features; without them there is no
    win analysis by feature."""
    from harness.analysis import wins  # the statistics (scipy, statsmodels): loaded to compare, not to read
    from harness.analysis.comparison import compare

    names = [s.name for s in suite.systems]
    baselines, metric = chosen(suite, baselines, metric)
    all_metrics = list(dict.fromkeys(m for d in suite.datasets for m in suite.metrics_for(d.name)))
    sig = suite.significance
    labels = {s.name: s.label or s.name for s in suite.systems}
    pq = _in_suite_order(results.per_query, suite)
    notes: list[str] = []
    deltas, feats, bucket_tables, worst_tables, ds_info = [], [], [], [], {}
    for ds, ds_pq in pq.groupby("dataset", sort=False):
        present = [n for n in names if n in set(ds_pq["system"])]
        ds_info[ds] = dict(results.datasets.get(ds, {}))
        notes += [f"{ds}: baseline {b!r} has no stored run; nothing compared against it" for b in baselines
                  if b not in present]  # fmt: skip
        ds_deltas = [wins.per_query_deltas(ds_pq, b, [s for s in present if s != b]) for b in baselines if b in present]
        ds_deltas = [d for d in ds_deltas if not d.empty]
        if not ds_deltas:
            continue
        d = pd.concat(ds_deltas, ignore_index=True)
        deltas.append(d.assign(dataset=ds))
        if features and ds in features:
            f, facts = features[ds]
            ds_info[ds]["features"] = facts
            feats.append(f.assign(dataset=ds))
            bucket_tables.append(wins.bucket_table(d, f, sig.tie_tolerance, n_buckets).assign(dataset=ds))
            worst_tables.append(wins.worst_queries(d, f, sig.tie_tolerance, worst_n).assign(dataset=ds))
    present_bases = [b for b in baselines if b in set(pq["system"])]
    limited = {(d, s, m) for (d, s), info in results.info.items() for m in info["depth_limited"]}
    cmp = compare(
        pq, present_bases, sig.test, sig.correction, sig.alpha, measures=all_metrics,
        tie_tolerance=sig.tie_tolerance, n_permutations=sig.n_permutations, depth_limited=limited,
    ) if present_bases else None  # fmt: skip
    comparisons = cmp.to_frame() if cmp is not None else pd.DataFrame()
    if not comparisons.empty:
        comparisons["baseline_label"] = comparisons["baseline"].map(labels)
        comparisons["system_label"] = comparisons["system"].map(labels)
        comparisons["depth_limited"] = _depth_limited(results, comparisons, "measure")
        comparisons = _with_judged(comparisons, results)
    means = results.means()
    if not means.empty:
        means["label"] = means["system"].map(labels)
        means["depth_limited"] = _depth_limited(results, means, "metric")
    no_comparison = {"test": sig.test.value, "correction": sig.correction.value, "alpha": sig.alpha, "n_comparisons": 0}
    settings = {
        "format": COMPARISON_FORMAT,
        **(cmp.settings if cmp is not None else no_comparison | {"tie_tolerance": sig.tie_tolerance}),
        "n_permutations": sig.n_permutations,
        "correction_family": "all comparisons of the suite (datasets × metrics × baselines × systems)",
        "n_buckets": n_buckets,
        "bucketing": "quantile buckets of the feature over the dataset's judged queries; tied values stay together, "
        "so discrete features may give fewer, unequal buckets; n/a = feature undefined",
        "features": dict(FEATURES),
        "delta": "system − baseline (positive: the system is better)",
        "win_rule": "win: Δ > tie_tolerance; loss (baseline wins): Δ < −tie_tolerance; else tie",
        "not_comparable": "a comparison where either run is depth-limited for the measure: not tested, not in the "
        "correction family (n/c)",
        "mde": "minimum detectable effect: (t_{1-α/2,n-1} + t_{0.8,n-1}) · sd(Δ)/√n, the paired t approximation at "
        "80 % power and the suite's α (before correction)",
        "judged_gap": JUDGED_GAP,
        "condensed": results.condensed,  # evaluated with each run's unjudged documents removed
    }
    return SuiteComparison(
        suite=suite.name,
        settings=settings,
        baselines=baselines,
        metric=metric,
        labels=labels,
        datasets=ds_info,
        means=means,
        comparisons=comparisons,
        deltas=_concat(deltas),
        features=_concat(feats),
        buckets=_concat(bucket_tables),
        worst=_concat(worst_tables),
        cost=cost_table(suite, results, means),
        mean_tests=mean_tests(suite, results, present_bases),
        missing=list(results.missing),
        skipped=list(results.skipped),
        notes=notes,
    )


def _with_judged(comparisons: pd.DataFrame, results: Results) -> pd.DataFrame:
    """Judged@10 of the system and of the baseline beside each comparison, and ``shallow_judgments``: the system's is
    more than JUDGED_GAP below the baseline's (its unjudged documents, counted as non-relevant, may hide relevant
    ones: try the condensed evaluation)."""
    pq = results.per_query
    of = pq[pq["metric"] == JUDGED_AT_10].groupby(["dataset", "system"])["value"].mean().to_dict()
    out = comparisons.assign(
        judged_at_10=[of.get(k, float("nan")) for k in zip(comparisons["dataset"], comparisons["system"], strict=True)],
        baseline_judged_at_10=[
            of.get(k, float("nan")) for k in zip(comparisons["dataset"], comparisons["baseline"], strict=True)
        ],
    )
    return out.assign(shallow_judgments=out["judged_at_10"] < out["baseline_judged_at_10"] - JUDGED_GAP)


def mean_tests(suite: Suite, results: Results, baselines: list[str]) -> pd.DataFrame:
    """The suite means tested as the per-query means are: each system against each baseline, paired over the datasets
    (dataset groups such as CQADupStack as one unit) that every system ran on, with the suite's test and correction
    as a family of its own. Empty with fewer than 2 such datasets. A mean over a depth-limited run is n/c."""
    from harness.analysis.comparison import compare

    agg = aggregate(suite, results)
    bases = [b for b in baselines if b in agg.means]
    if len(agg.units) < 2 or not bases or len(agg.means) < 2:
        return pd.DataFrame()
    rows = [
        (system, unit, metric, value)
        for unit in agg.units
        for system, values in agg.unit_means[unit].items()
        for metric, value in values.items()
    ]
    per_unit = pd.DataFrame(rows, columns=["system", "query_id", "metric", "value"])
    sig = suite.significance
    limited = {("", s, m) for s, m in agg.depth_limited[OVERALL]}
    cmp = compare(
        per_unit, bases, sig.test, sig.correction, sig.alpha, tie_tolerance=sig.tie_tolerance,
        n_permutations=sig.n_permutations, depth_limited=limited,
    )  # fmt: skip
    return cmp.to_frame().rename(columns={"n": "n_datasets"})


def _in_suite_order(per_query: pd.DataFrame, suite: Suite) -> pd.DataFrame:
    """The suite's datasets and systems, in the suite's order (which orders tables and the family)."""
    if per_query.empty:
        return per_query.assign(dataset=pd.Series(dtype=object))
    ds_rank = {d.name: i for i, d in enumerate(suite.datasets)}
    sys_rank = {s.name: i for i, s in enumerate(suite.systems)}
    pq = per_query[per_query["dataset"].isin(ds_rank) & per_query["system"].isin(sys_rank)]
    order = pq["dataset"].map(ds_rank) * len(sys_rank) + pq["system"].map(sys_rank)
    return pq.iloc[order.to_numpy().argsort(kind="stable")]


def _depth_limited(results: Results, table: pd.DataFrame, metric_column: str) -> list[bool]:
    return [
        m in results.info[(d, s)]["depth_limited"]
        for d, s, m in zip(table["dataset"], table["system"], table[metric_column], strict=True)
    ]


def chosen(suite: Suite, baselines: list[str] | None, metric: str | None) -> tuple[list[str], str]:
    """The baselines (default: the suite's) and the metric of the win analysis (default: the suite's first)."""
    names = [s.name for s in suite.systems]
    baselines = list(dict.fromkeys(baselines or ([suite.baseline] if suite.baseline else [])))
    if not baselines:
        raise HarnessError("no baseline: the suite names none; pass --baseline NAME", file=str(suite.path))
    for b in baselines:
        if b not in names:
            raise HarnessError(f"baseline {b!r} is not a system of this suite (systems: {', '.join(names)})")
    all_metrics = list(dict.fromkeys(m for d in suite.datasets for m in suite.metrics_for(d.name)))
    return baselines, _canonical_metric(metric, all_metrics) if metric else all_metrics[0]


def _canonical_metric(metric: str, known: list[str]) -> str:
    from harness.core.measures import label

    try:
        canonical = label(metric)
    except HarnessError as e:
        raise HarnessError(f"--metric: {e.message}") from None
    if canonical not in known:
        raise HarnessError(f"metric {metric!r} is not one of this suite's metrics ({', '.join(known)})")
    return canonical


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "dataset", out.pop("dataset"))
    return out


def cost_table(suite: Suite, results: Results, means: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, system): pipeline (own stage + upstream stages) query-time seconds per 1k queries, and the means.

    A stage's wall time includes whatever corpus-side work it did (encoding documents, building or loading an index,
    ``index_seconds``), which depends on what was cached; query time is wall − index, summed over the pipeline. Runs
    stored before index time was recorded have no ``index_seconds``: their query time is unknown (None), while
    ``wall_seconds`` keeps the raw sum."""
    rows = []
    for ds in suite.datasets:
        facts = results.datasets.get(ds.name)
        if not facts:
            continue
        for spec in suite.systems:
            if (ds.name, spec.name) not in results.info:
                continue
            chain = _pipeline(suite, spec.name)
            infos = [results.info.get((ds.name, s), {}) for s in chain]
            walls = [i.get("wall_seconds") for i in infos]
            indexes = [i.get("index_seconds") for i in infos]
            wall = None if any(w is None for w in walls) else float(sum(walls))
            index = None if wall is None or any(x is None for x in indexes) else float(sum(indexes))
            query = None if index is None else wall - index
            n = facts["topics"]
            rows.append(
                {
                    "dataset": ds.name,
                    "system": spec.name,
                    "label": spec.label or spec.name,
                    "pipeline": list(chain),
                    "imported": any(suite.system(s).kind in IMPORTED_KINDS for s in chain),
                    "wall_seconds": wall,
                    "index_seconds": index,
                    "query_seconds": query,
                    "n_queries": n,
                    "seconds_per_1k": query / n * 1000 if query is not None and n else None,
                }
            )
    cost = pd.DataFrame(rows)
    if cost.empty or means.empty:
        return cost
    wide = means.pivot_table(index=["dataset", "system"], columns="metric", values="value").reset_index()
    wide.columns.name = None
    return cost.merge(wide, on=["dataset", "system"], how="left")


def _pipeline(suite: Suite, name: str) -> list[str]:
    """The system and every stage upstream of it, upstream first, each once."""
    out: list[str] = []

    def visit(n: str) -> None:
        for up in suite.system(n).upstream:
            visit(up)
        if n not in out:
            out.append(n)

    visit(name)
    return out
