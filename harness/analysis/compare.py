"""Suite-level comparison: every system against the baseline(s) on every dataset × metric, with the multiple-comparison
correction applied across ALL comparisons of the suite; W/T/L; the win analysis (harness.analysis.wins); plots; and the
stored files a report renders from (``<results>/compare/<suite>/``).

Input is the stored evaluation only (``harness.suite.results.Results``): nothing is run here. Query features read the
dataset (queries, qrels, relevant documents' text) and, for ``bm25_top_rel``, a BM25 index the suite's ``bm25``
system built or a stored BM25 run.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import wins as analysis
from harness.analysis.stats import compare_systems, correct_table, test_name
from harness.core.errors import HarnessError
from harness.store import Store, write_json
from harness.suite.config import Suite
from harness.suite.results import Results

log = logging.getLogger("irh")

UP, DOWN, DEPTH_MARK = "▲", "▼", "†"
TEST_NAMES = {"ttest": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test", "randomization": "randomization test"}
CORRECTION_NAMES = {"none": "no correction", "bonferroni": "Bonferroni", "holm": "Holm", "bh": "Benjamini–Hochberg"}
IMPORTED_KINDS = ("run-file", "scoreddocs")
N_BOOTSTRAP = 10_000
SEED = 0


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
    comparisons: pd.DataFrame
    deltas: pd.DataFrame
    features: pd.DataFrame
    buckets: pd.DataFrame
    worst: pd.DataFrame
    cost: pd.DataFrame
    missing: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # name → path relative to out_dir
    out_dir: str | None = None
    plots: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- computing
def compare_suite(
    suite: Suite,
    results: Results,
    store: Store,
    baselines: list[str] | None = None,
    metric: str | None = None,
    *,
    n_buckets: int = 4,
    worst_n: int = 10,
    features: bool = True,
) -> SuiteComparison:
    """Compare every system with each baseline on every dataset and metric of ``results``."""
    names = [s.name for s in suite.systems]
    baselines = list(dict.fromkeys(baselines or ([suite.baseline] if suite.baseline else [])))
    if not baselines:
        raise HarnessError("no baseline: the suite names none; pass --baseline NAME", file=str(suite.path))
    for b in baselines:
        if b not in names:
            raise HarnessError(f"baseline {b!r} is not a system of this suite (systems: {', '.join(names)})")
    all_metrics = list(dict.fromkeys(m for d in suite.datasets for m in suite.metrics_for(d.name)))
    metric = _canonical_metric(metric, all_metrics) if metric else all_metrics[0]
    sig = suite.significance
    labels = {s.name: s.label or s.name for s in suite.systems}
    pq = results.per_query
    notes: list[str] = []

    tables, deltas, feats, bucket_tables, worst_tables, ds_info = [], [], [], [], [], {}
    for ds in suite.datasets:
        if pq.empty or ds.name not in set(pq["dataset"]):
            continue
        ds_pq = pq[pq["dataset"] == ds.name]
        present = [n for n in names if n in set(ds_pq["system"])]
        ds_info[ds.name] = dict(results.datasets.get(ds.name, {}))
        ds_baselines = [b for b in baselines if b in present]
        for b in baselines:
            if b not in present:
                notes.append(f"{ds.name}: baseline {b!r} has no stored run; nothing compared against it")
        ds_deltas = []
        for base in ds_baselines:
            others = [s for s in present if s != base]
            if not others:
                continue
            for m in suite.metrics_for(ds.name):
                table = compare_systems(
                    ds_pq,
                    base,
                    m,
                    test=sig.test,
                    correction=sig.correction,
                    alpha=sig.alpha,
                    systems=others,
                    n_permutations=sig.n_permutations,
                    n_resamples=N_BOOTSTRAP,
                    seed=SEED,
                )
                tables.append(table.assign(dataset=ds.name))
            ds_deltas.append(analysis.per_query_deltas(ds_pq, base, others))
        if not ds_deltas:
            continue
        d = pd.concat(ds_deltas, ignore_index=True)
        deltas.append(d.assign(dataset=ds.name))
        if features:
            f, facts = _dataset_features(suite, ds, results, store, ds_baselines)
            ds_info[ds.name]["features"] = facts
            feats.append(f.assign(dataset=ds.name))
            bucket_tables.append(analysis.bucket_table(d, f, sig.tie_tolerance, n_buckets).assign(dataset=ds.name))
            worst_tables.append(analysis.worst_queries(d, f, sig.tie_tolerance, worst_n).assign(dataset=ds.name))

    comparisons = _concat(tables)
    if not comparisons.empty:
        comparisons = correct_table(comparisons, sig.correction, sig.alpha)  # the family: every comparison made
        all_deltas = _concat(deltas)
        wtl = pd.concat(
            [analysis.wtl_table(g, sig.tie_tolerance).assign(dataset=ds) for ds, g in all_deltas.groupby("dataset")],
            ignore_index=True,
        ).drop(columns="n")
        comparisons = comparisons.merge(wtl, on=["dataset", "metric", "baseline", "system"], how="left")
        comparisons.insert(0, "dataset", comparisons.pop("dataset"))
        comparisons["baseline_label"] = comparisons["baseline"].map(labels)
        comparisons["system_label"] = comparisons["system"].map(labels)
        comparisons["depth_limited"] = [
            m in results.info[(d, s)]["depth_limited"]
            for d, s, m in zip(comparisons["dataset"], comparisons["system"], comparisons["metric"], strict=True)
        ]
    means = results.means()
    if not means.empty:
        means["label"] = means["system"].map(labels)
        means["depth_limited"] = [
            m in results.info[(d, s)]["depth_limited"]
            for d, s, m in zip(means["dataset"], means["system"], means["metric"], strict=True)
        ]
    settings = {
        "test": test_name(sig.test),
        "test_name": TEST_NAMES[test_name(sig.test)],
        "suite_test": sig.test,
        "correction": sig.correction,
        "correction_name": CORRECTION_NAMES[sig.correction],
        "alpha": sig.alpha,
        "n_permutations": sig.n_permutations,
        "tie_tolerance": sig.tie_tolerance,
        "n_comparisons": len(comparisons),
        "correction_family": "all comparisons of the suite (datasets × metrics × baselines × systems)",
        "bootstrap_resamples": N_BOOTSTRAP,
        "confidence": 0.95,
        "seed": SEED,
        "n_buckets": n_buckets,
        "bucketing": "quantile buckets of the feature over the dataset's judged queries; tied values stay together, "
        "so discrete features may give fewer, unequal buckets; n/a = feature undefined",
        "features": {k: v for k, v in analysis.FEATURES.items()},
        "delta": "system − baseline (positive: the system is better)",
        "win_rule": "win: Δ > tie_tolerance; loss (baseline wins): Δ < −tie_tolerance; else tie",
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
        cost=_cost(suite, results, means),
        missing=list(results.missing),
        skipped=list(results.skipped),
        notes=notes,
    )


def _canonical_metric(metric: str, known: list[str]) -> str:
    from harness.core.measures import parse_metric

    try:
        canonical = str(parse_metric(metric))
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


def _dataset_features(suite, ds, results: Results, store: Store, baselines: list[str]) -> tuple[pd.DataFrame, dict]:
    queries, qrels = ds.queries(), ds.qrels()
    judged = {q: r for q, r in qrels.items() if q in queries}
    bm25 = _bm25_scores(suite, ds, results, store, baselines)
    doc_texts = ds.doc_texts if ds.has_docs() else (lambda ids: {})
    log.info("compare: query features of %s (%d judged queries)", ds.name, len(judged))
    f = analysis.query_features(queries, judged, doc_texts, bm25)
    empty = [c for c in analysis.feature_columns(f) if f[c].isna().all()]
    f = f.drop(columns=empty)
    facts = {
        "bm25_source": bm25.source if bm25 else None,
        "relevant_docs": int(f["n_relevant"].sum()),
        "relevant_docs_with_text": int(f["n_relevant_text"].sum()),
        "dropped_features": {c: "undefined for every query" for c in empty},
        "undefined": {c: int(f[c].isna().sum()) for c in analysis.feature_columns(f)},
    }
    if not ds.has_docs():
        facts["dropped_features"]["overlap"] = f"{ds.irds_id} has no documents offline"
    return f, facts


def _bm25_scores(suite, ds, results: Results, store: Store, baselines: list[str]) -> analysis.BM25Scores | None:
    """The stored run of a retriever named or labelled BM25 (scores known for its top k only; the baseline first);
    otherwise None. A comparison reads the store only: it never opens a Lucene index (no JVM)."""
    stored = [s for s in suite.systems if (ds.name, s.name) in results.info]
    stored.sort(key=lambda s: s.name not in baselines)  # stable: baselines first, then suite order
    for spec in stored:
        if spec.role == "retriever" and "bm25" in f"{spec.name} {spec.label or ''}".lower():
            info = results.info[(ds.name, spec.name)]
            run = store.load_run(info["run_key"])
            source = (
                f"scores in the stored run of system {spec.name!r} ({spec.label or spec.name}, top {info['depth']}); "
                "n/a when no relevant document is in that run"
            )
            return analysis.bm25_from_run(run.scores, source)
    return None


def _cost(suite: Suite, results: Results, means: pd.DataFrame) -> pd.DataFrame:
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


# ---------------------------------------------------------------- storing
def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def save_comparison(cmp: SuiteComparison, out_dir: Path, plots: bool = True) -> dict[str, Any]:
    """Write tables (parquet + CSV), plots (PNG + SVG) and ``compare.json`` under ``out_dir``, then its manifest
    (what readers check); returns the JSON."""
    from harness.store import MANIFEST, write_manifest

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)  # until the new manifest is written, the folder is incomplete
    tables = {
        "means": cmp.means,
        "comparisons": cmp.comparisons,
        "per_query_deltas": cmp.deltas,
        "features": cmp.features,
        "buckets": cmp.buckets,
        "worst_queries": cmp.worst,
        "cost": cmp.cost,
    }
    for name, df in tables.items():
        for fmt in ("parquet", "csv"):
            path = out_dir / f"{name}.{fmt}"
            _write_table(df, path)
            cmp.files[f"{name}.{fmt}"] = path.name
    cmp.plots = _plots(cmp, out_dir / "plots") if plots else []
    cmp.files["compare.json"] = "compare.json"
    cmp.out_dir = str(out_dir)
    summary = to_json(cmp)
    write_json(out_dir / "compare.json", summary)
    write_manifest(out_dir)
    return summary


def _write_table(df: pd.DataFrame, path: Path) -> None:
    from harness.store import atomic_write

    df = df.copy()
    for col in df.columns:  # parquet/CSV want scalars: lists (pipelines) as " > "-joined text
        if df[col].dtype == object and df[col].map(lambda v: isinstance(v, list)).any():
            df[col] = df[col].map(lambda v: " > ".join(v) if isinstance(v, list) else v)
    if path.suffix == ".parquet":
        atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))
    else:
        atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


def _plots(cmp: SuiteComparison, plot_dir: Path) -> list[dict[str, Any]]:
    from harness.analysis import plots

    out = []
    m = cmp.metric
    for ds in cmp.datasets:
        for base in cmp.baselines:
            blabel = cmp.labels[base]
            if not cmp.deltas.empty:
                d = cmp.deltas[(cmp.deltas["dataset"] == ds) & (cmp.deltas["baseline"] == base)]
                d = d[d["metric"] == m]
                if not d.empty:
                    stem = plot_dir / f"{slug(ds)}__{slug(m)}__deltas_vs_{slug(base)}"
                    title = f"{cmp.suite} · {ds} · {m}: per-query Δ vs {blabel}"
                    paths = plots.delta_bars(d, cmp.labels, cmp.settings["tie_tolerance"], title, stem)
                    out.append(_plot_entry("deltas", ds, m, base, paths))
            if not cmp.buckets.empty:
                b = cmp.buckets[(cmp.buckets["dataset"] == ds) & (cmp.buckets["baseline"] == base)]
                b = b[b["metric"] == m]
                if not b.empty:
                    stem = plot_dir / f"{slug(ds)}__{slug(m)}__win_rate_by_bucket_vs_{slug(base)}"
                    title = f"{cmp.suite} · {ds} · {m}: win rates vs {blabel} by query-feature bucket"
                    out.append(_plot_entry("buckets", ds, m, base, plots.bucket_win_rates(b, cmp.labels, title, stem)))
        if not cmp.cost.empty and m in cmp.cost.columns:
            c = cmp.cost[cmp.cost["dataset"] == ds].rename(columns={m: "value"})
            if c["seconds_per_1k"].notna().any():
                stem = plot_dir / f"{slug(ds)}__{slug(m)}__cost"
                title = f"{cmp.suite} · {ds}: {m} vs query time"
                out.append(_plot_entry("cost", ds, m, None, plots.cost_scatter(c, m, title, stem)))
    return out


def _plot_entry(kind: str, ds: str, metric: str, baseline: str | None, paths: list[Path]) -> dict[str, Any]:
    files = [f"{p.parent.name}/{p.name}" for p in paths]  # relative to the comparison's folder
    return {"kind": kind, "dataset": ds, "metric": metric, "baseline": baseline, "files": files}


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    def clean(v: Any) -> Any:
        if isinstance(v, float | np.floating):
            return float(v) if math.isfinite(v) else None
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, np.bool_):
            return bool(v)
        return v

    return [{k: clean(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def to_json(cmp: SuiteComparison) -> dict[str, Any]:
    """The stored summary (``compare.json``, ``irh compare --format json``): settings, tables as records, and the
    files (tables, plots) by path relative to ``dir``, so a moved results folder still renders."""
    worst_cols = ["dataset", "metric", "baseline", "system", "rank", "query_id", "query"]
    worst_cols += ["baseline_value", "system_value", "delta"]
    worst = cmp.worst
    if not worst.empty:
        worst = worst[[*worst_cols, *analysis.feature_columns(worst)]]
    return {
        "suite": cmp.suite,
        "baselines": cmp.baselines,
        "metric": cmp.metric,
        "labels": cmp.labels,
        "settings": cmp.settings,
        "datasets": cmp.datasets,
        "comparisons": _records(cmp.comparisons),
        "means": _records(cmp.means),
        "buckets": _records(cmp.buckets),
        "worst_queries": _records(worst),
        "cost": _records(cmp.cost),
        "missing": [{"dataset": d, "system": s} for d, s in cmp.missing],
        "skipped": [{"dataset": d, "system": s, "reason": r} for d, s, r in cmp.skipped],
        "notes": cmp.notes,
        "dir": cmp.out_dir,
        "files": cmp.files,
        "plots": cmp.plots,
    }


# ---------------------------------------------------------------- printing
def format_comparison(cmp: SuiteComparison, worst_shown: int = 3) -> str:
    s = cmp.settings
    test = s["test_name"] + (f", {s['n_permutations']} permutations" if s["test"] == "randomization" else "")
    legend = (
        f"  {UP}/{DOWN}: significantly better/worse than the baseline ({test}; {s['correction_name']} correction "
        f"over all {s['n_comparisons']} comparisons of the suite; α = {s['alpha']})"
    )
    out = []
    for ds, facts in cmp.datasets.items():
        for base in cmp.baselines:
            out.extend(_main_table(cmp, ds, facts, base))
            out.append(legend)
            out.append(
                f"  W/T/L: queries where the system wins/ties/loses against {cmp.labels[base]} on {cmp.metric} "
                f"(tie tolerance {s['tie_tolerance']:g})"
            )
            out.extend(_bucket_tables(cmp, ds, base))
            out.extend(_worst(cmp, ds, base, worst_shown))
            out.append("")
    for d, sname in cmp.missing:
        out.append(f"missing: {d}/{sname} is not in the store (run `irh run` first); left out of the comparison")
    out.extend(f"note: {n}" for n in cmp.notes)
    if cmp.files.get("compare.json"):
        out.append(f"stored: {cmp.out_dir}/ (tables, compare.json, plots/)")
    return "\n".join(out).rstrip() + "\n"


def _main_table(cmp: SuiteComparison, ds: str, facts: dict, base: str) -> list[str]:
    head = f"{cmp.suite} · {ds}"
    if facts:
        head += f" ({facts.get('irds_id', '')}): {facts.get('judged_queries', '?')} judged queries"
    head += f" · baseline {cmp.labels[base]}"
    means = cmp.means[cmp.means["dataset"] == ds]
    metrics = list(dict.fromkeys(means["metric"]))
    comp = cmp.comparisons
    if not comp.empty:
        comp = comp[(comp["dataset"] == ds) & (comp["baseline"] == base)]
    rows, limited_any = [], False
    for system in dict.fromkeys(means["system"]):
        cells = [cmp.labels.get(system, system)]
        for m in metrics:
            r = means[(means["system"] == system) & (means["metric"] == m)].iloc[0]
            limited_any |= bool(r["depth_limited"])
            mark = ""
            if not comp.empty and system != base:
                c = comp[(comp["system"] == system) & (comp["metric"] == m)]
                if len(c) and c["significant"].iloc[0]:
                    mark = UP if c["mean_diff"].iloc[0] > 0 else DOWN
            cells.append(f"{r['value']:.4f}{DEPTH_MARK if r['depth_limited'] else ''}{mark}")
        if system == base:
            cells.append("baseline")
        else:
            c = comp[(comp["system"] == system) & (comp["metric"] == cmp.metric)] if not comp.empty else comp
            cells.append(f"{c['wins'].iloc[0]}/{c['ties'].iloc[0]}/{c['losses'].iloc[0]}" if len(c) else "")
        rows.append(cells)
    lines = [head, _grid(["system", *metrics, f"W/T/L {cmp.metric}"], rows)]
    if limited_any:
        lines.append(f"  {DEPTH_MARK} depth-limited: the run is shallower than the metric's cut-off")
    return lines


def _bucket_tables(cmp: SuiteComparison, ds: str, base: str) -> list[str]:
    if cmp.buckets.empty:
        return []
    b = cmp.buckets[(cmp.buckets["dataset"] == ds) & (cmp.buckets["baseline"] == base)]
    b = b[b["metric"] == cmp.metric]
    if b.empty:
        return []
    blabel = cmp.labels[base]
    systems = [s for s in cmp.labels if s in set(b["system"])]  # suite order
    lines = [
        f"  Win analysis on {cmp.metric} by quantile bucket of a query feature; cells: W/T/L of the system "
        f"({blabel} wins %)"
    ]
    facts = cmp.datasets.get(ds, {}).get("features", {})
    bm25_source = facts.get("bm25_source")
    if facts.get("relevant_docs_with_text", 0) < facts.get("relevant_docs", 0):
        lines.append(
            f"  (overlap uses the relevant documents whose text is available: {facts['relevant_docs_with_text']} "
            f"of {facts['relevant_docs']})"
        )
    for feature in analysis.FEATURES:
        part = b[b["feature"] == feature]
        if part.empty:
            continue
        desc = analysis.FEATURES[feature]
        if feature.startswith("bm25") and bm25_source:
            desc += f"; {bm25_source}"
        lines.append(f"  · {feature}: {desc}")
        rows = []
        for _, g in part.groupby("bucket", sort=True):
            cells = [g["label"].iloc[0], str(int(g["n"].iloc[0]))]
            for system in systems:
                r = g[g["system"] == system]
                cells.append(
                    f"{r['wins'].iloc[0]}/{r['ties'].iloc[0]}/{r['losses'].iloc[0]} ({r['loss_rate'].iloc[0]:.0%})"
                    if len(r)
                    else ""
                )
            rows.append(cells)
        lines.append(_grid(["bucket", "n", *(cmp.labels.get(s, s) for s in systems)], rows, indent="    "))
    return lines


def _worst(cmp: SuiteComparison, ds: str, base: str, n: int) -> list[str]:
    if cmp.worst.empty or n <= 0:
        return []
    w = cmp.worst[(cmp.worst["dataset"] == ds) & (cmp.worst["baseline"] == base)]
    w = w[(w["metric"] == cmp.metric) & (w["rank"] <= n)]
    if w.empty:
        return []
    lines = [f"  Queries {cmp.labels[base]} wins by the largest margin ({cmp.metric}; baseline vs system):"]
    for system, g in w.groupby("system", sort=False):
        lines.append(f"    {cmp.labels.get(system, system)}:")
        for r in g.itertuples(index=False):
            extra = f"overlap {r.overlap:.2f}" if "overlap" in g.columns and pd.notna(r.overlap) else ""
            lines.append(
                f"      {r.query_id:<10} {r.baseline_value:.3f} vs {r.system_value:.3f}  "
                f"{_shorten(str(r.query), 70)!r} {extra}".rstrip()
            )
    return lines


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _grid(header: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return indent + "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), indent + "  ".join("-" * w for w in widths), *map(line, rows)])


def dumps(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=1, sort_keys=True, ensure_ascii=False)
