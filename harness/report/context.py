"""Everything a report shows, gathered once from the store into plain dataclasses that the HTML, LaTeX and Markdown
renderers share. Nothing here runs a system or computes a statistic: numbers come from the stored evaluations
(``harness.suite.results``), tests and plots from the stored comparison (``<results>/compare/<suite>/``, written by
``irh compare``, or by harness.report.stored_comparison first when it is missing or no longer matches them),
provenance from the run and evaluation sidecars (harness.report.provenance).

``gather`` reads the store; ``build_context`` is pure (tests call it on hand-built results).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.aggregate import OVERALL, Aggregate, aggregate
from harness.core.errors import HarnessError
from harness.core.slugs import slug
from harness.report import stored_comparison
from harness.report.drilldown import Drilldown, DrilldownData, drilldown_data, drilldowns
from harness.report.overview import Overview, count_significant, overview
from harness.report.tables import Table, build_table, finite, significance_legend
from harness.store import Store
from harness.suite.config import Suite
from harness.suite.results import Results

log = logging.getLogger("irh")


# ---------------------------------------------------------------- the comparison read from the store
@dataclass
class Plot:
    key: str
    kind: str  # deltas | buckets | cost
    dataset: str
    metric: str
    baseline: str | None
    title: str
    png: Path | None
    svg: Path | None


@dataclass
class StoredComparison:
    """What ``irh compare`` stored: settings, the comparisons table (all datasets), plots; and where it came from."""

    directory: Path
    summary: dict[str, Any]  # compare.json
    table: pd.DataFrame  # comparisons.parquet
    source: str
    mean_tests: pd.DataFrame = field(default_factory=pd.DataFrame)  # the suite means' own test, when stored

    @property
    def settings(self) -> dict[str, Any]:
        return self.summary["settings"]

    @property
    def baselines(self) -> list[str]:
        return list(self.summary["baselines"])

    @property
    def metric(self) -> str:
        return self.summary["metric"]

    def plots(self) -> list[Plot]:
        out = []
        labels = self.summary.get("labels", {})
        for i, p in enumerate(self.summary.get("plots", [])):
            files = {Path(f).suffix: self.directory / "plots" / Path(f).name for f in p["files"]}
            base = labels.get(p["baseline"], p["baseline"])
            title = {
                "deltas": f"Per-query Δ {p['metric']} vs {base} (sorted; green: system wins, red: baseline wins)",
                "buckets": f"Win rates on {p['metric']} vs {base} by quantile bucket of a query feature",
                "cost": f"{p['metric']} against query-time wall seconds per 1k queries (corpus encoding/indexing "
                "excluded; pipeline incl. upstream stages)",
            }.get(p["kind"], p["kind"])
            out.append(
                Plot(f"plot{i}", p["kind"], p["dataset"], p["metric"], p["baseline"], title,
                     files.get(".png"), files.get(".svg"))
            )  # fmt: skip
        return out


def load_comparison(suite: Suite, results: Results, store: Store) -> StoredComparison | None:
    """The stored comparison of the suite; compared (from the stored evaluations, building nothing) and stored first
    if it is missing or stale. None when the suite names no baseline and nothing is stored."""
    directory = stored_comparison.directory(store, suite)
    if suite.baseline is None and not (directory / stored_comparison.SUMMARY).exists():
        return None
    reason = stored_comparison.ensure_comparison(suite, results, store)
    if reason is None:
        written = datetime.fromtimestamp((directory / stored_comparison.SUMMARY).stat().st_mtime, UTC)
        source = f"stored comparison ({directory}, written {written.isoformat(timespec='seconds')})"
    else:
        log.info("report: %s: compared the stored evaluations now (runs nothing)", reason)
        source = f"computed for this report from the stored evaluations ({reason}); stored in {directory}"
    summary = stored_comparison.read_summary(directory)
    means = directory / "mean_tests.parquet"  # the suite means tested across datasets (written by newer `irh compare`)
    mean_tests = pd.read_parquet(means) if means.exists() else pd.DataFrame()
    return StoredComparison(directory, summary, pd.read_parquet(directory / "comparisons.parquet"), source, mean_tests)


# ---------------------------------------------------------------- the report
@dataclass
class DatasetSection:
    name: str
    irds_id: str
    facts: dict[str, Any]
    tables: list[Table]
    comparisons: list[dict[str, Any]] = field(default_factory=list)  # long rows: baseline, system, metric, Δ, p, W/T/L
    warnings: list[str] = field(default_factory=list)  # depth-limited metrics
    notes: list[str] = field(default_factory=list)  # missing / skipped systems, comparison notes
    plots: list[Plot] = field(default_factory=list)
    drilldowns: list[Drilldown] = field(default_factory=list)
    drilldown_data: DrilldownData | None = None

    @property
    def description(self) -> str:
        f = self.facts
        if not f:
            return self.irds_id
        text = f"{self.irds_id}: {f['judged_queries']} judged queries"
        if f.get("unjudged_dropped"):
            text += f", {f['unjudged_dropped']} without judgments dropped"
        if f.get("exclude_self_matches"):
            text += "; self-matches (doc id = query id) ignored, as in BEIR"
        return text


@dataclass
class ReportContext:
    suite: dict[str, Any]  # name, description, path, digest, metrics, baseline
    generated: str
    significance: dict[str, Any] | None  # the comparison's settings (test, correction, alpha, ...)
    comparison_metric: str | None
    comparison_source: str | None
    datasets: list[DatasetSection]
    summaries: list[Table]  # group means and the suite mean over datasets
    summary_notes: list[str]
    provenance: dict[str, Any] | None
    missing: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    comparison: StoredComparison | None = None  # where the stored tables are (the LaTeX export redraws plots as PDF)
    overview: Overview | None = None  # datasets × systems on the comparison metric (the headline, after the means)

    def significance_text(self, up: str = "▲", down: str = "▼") -> str:
        """The legend of the significance marks, naming the test and the correction."""
        if not self.significance:
            return "No significance tests: the suite names no baseline."
        return significance_legend(self.significance, up, down) + "."

    def wtl_text(self) -> str:
        s = self.significance or {}
        return (
            f"W/T/L: queries on which the system wins/ties/loses against the baseline on {self.comparison_metric} "
            f"(tie: |Δ| ≤ {s.get('tie_tolerance', 0):g})."
        )

    @property
    def missing_datasets(self) -> list[tuple[str, str]]:
        """Missing runs of datasets without any stored result (the others are noted in their section)."""
        shown = {d.name for d in self.datasets}
        return [(d, s) for d, s in self.missing if d not in shown]

    @property
    def tables(self) -> list[Table]:
        return [t for d in self.datasets for t in d.tables] + self.summaries


def gather(suite: Suite, store: Store) -> ReportContext:
    """Read everything the report shows from the store (evaluating stored runs not yet evaluated; running nothing)."""
    from harness.report.provenance import provenance
    from harness.suite.results import read_results

    started = datetime.now(UTC)
    results = read_results(suite, store)
    if results.per_query.empty:
        raise HarnessError(f"no stored runs of suite {suite.name!r}: run `irh run` first", file=str(suite.path))
    comparison = load_comparison(suite, results, store)
    queries = {ds.name: dict(ds.queries()) for ds in suite.datasets if ds.name in set(results.per_query["dataset"])}
    prov = provenance(suite, store, results, started)
    return build_context(suite, results, comparison, queries, prov, generated=started)


def build_context(
    suite: Suite,
    results: Results,
    comparison: StoredComparison | None,
    queries: Mapping[str, Mapping[str, str]] | None = None,
    provenance: dict[str, Any] | None = None,
    generated: datetime | None = None,
) -> ReportContext:
    labels = {s.name: s.label or s.name for s in suite.systems}
    nested = results.nested()
    table = comparison.table if comparison is not None else pd.DataFrame()
    baselines = comparison.baselines if comparison is not None else []
    cmp_metric = comparison.metric if comparison is not None else None
    plots = comparison.plots() if comparison is not None else []
    sections = []
    for ds in suite.datasets:
        if ds.name not in nested:
            continue
        metrics = list(suite.metrics_for(ds.name))
        systems = [s.name for s in suite.systems if s.name in nested[ds.name]]
        values = {s: nested[ds.name][s] for s in systems}
        limited = {s: results.info[(ds.name, s)]["depth_limited"] for s in systems}
        ds_table = table[table["dataset"] == ds.name] if not table.empty else table
        ds_baselines = [b for b in baselines if b in systems]
        tables = [
            build_table(
                f"{_slug(ds.name)}-{_slug(b)}" if len(ds_baselines) > 1 else _slug(ds.name),
                f"{suite.name} · {ds.name}" + (f" · baseline {labels[b]}" if len(ds_baselines) > 1 else ""),
                metrics, values, labels, baseline=b, comparisons=ds_table, depth_limited=limited,
                wtl_metric=cmp_metric,
            )
            for b in ds_baselines
        ]  # fmt: skip
        if not tables:  # no comparison: the numbers with their best/second marks only
            title = f"{suite.name} · {ds.name}"
            tables = [build_table(_slug(ds.name), title, metrics, values, labels, depth_limited=limited)]
        section = DatasetSection(ds.name, ds.irds_id, dict(results.datasets.get(ds.name, {})), tables)
        if not ds_table.empty:
            section.comparisons = _comparison_rows(ds_table, labels)
        for s in systems:
            info = results.info[(ds.name, s)]
            for m in info["depth_limited"]:
                section.warnings.append(
                    f"{m} of {labels[s]}: the run holds at most {info['depth']} documents per query, fewer than the "
                    "metric looks at; the value is a lower bound, not comparable with full-depth figures."
                )
        section.notes += [
            f"{labels.get(s, s)}: not in the store (not run yet)" for d, s in results.missing if d == ds.name
        ]
        section.notes += [f"{labels.get(s, s)} skipped: {why}" for d, s, why in results.skipped if d == ds.name]
        if comparison is not None:
            section.notes += [n for n in comparison.summary.get("notes", []) if n.startswith(f"{ds.name}:")]
        section.plots = [p for p in plots if p.dataset == ds.name]
        if ds_baselines:
            pq = results.per_query[results.per_query["dataset"] == ds.name]
            data = drilldown_data(ds.name, pq, systems, metrics, (queries or {}).get(ds.name, {}))
            section.drilldown_data = data
            section.drilldowns = drilldowns(ds.name, data, ds_baselines, systems, labels)
        sections.append(section)
    mean_tests = comparison.mean_tests if comparison is not None else pd.DataFrame()
    summaries, summary_notes = _summaries(suite, aggregate(suite, results), labels, table, baselines, mean_tests)
    heads = [(d.name, d.tables[0].key, d.tables[0]) for d in sections]
    return ReportContext(
        suite={
            "name": suite.name,
            "description": suite.description,
            "path": str(suite.path),
            "digest": suite.digest,
            "metrics": list(suite.metrics),
            "baseline": suite.baseline,
            "baselines": baselines,
        },
        generated=(generated or datetime.now(UTC)).isoformat(timespec="seconds"),
        significance=comparison.settings if comparison is not None else None,
        comparison_metric=cmp_metric,
        comparison_source=comparison.source if comparison is not None else None,
        datasets=sections,
        summaries=summaries,
        summary_notes=summary_notes,
        provenance=provenance,
        missing=list(results.missing),
        skipped=list(results.skipped),
        comparison=comparison,
        overview=overview(cmp_metric or next(iter(suite.metrics), ""), heads, labels),
    )


def _slug(text: str) -> str:
    return slug(text, "-").lower() or "x"


def _comparison_rows(table: pd.DataFrame, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for r in table.to_dict(orient="records"):
        out.append(
            {
                "baseline": r["baseline"],
                "baseline_label": labels.get(r["baseline"], r["baseline"]),
                "system": r["system"],
                "label": labels.get(r["system"], r["system"]),
                "metric": r["measure"],
                "n": int(r["n"]),
                "mean_baseline": finite(r["baseline_mean"]),
                "mean_system": finite(r["mean"]),
                "mean_diff": finite(r["delta"]),
                "ci_low": finite(r.get("ci_low")),
                "ci_high": finite(r.get("ci_high")),
                "effect_size": finite(r.get("effect_size")),
                "p_value": finite(r["p"]),
                "p_adjusted": finite(r["p_corrected"]),
                "significant": bool(r["significant"]),
                "wtl": None if pd.isna(r.get("wins")) else (int(r["wins"]), int(r["ties"]), int(r["losses"])),
                "depth_limited": bool(r.get("depth_limited", False)),
                "comparable": bool(r.get("comparable", True)),  # False: "n/c", not tested (harness.analysis)
                "mde": finite(r.get("mde")),  # minimum detectable effect, when the comparison has it
            }
        )
    return out


def _limited(agg: Aggregate, unit: str) -> dict[str, list[str]]:
    """system → metrics whose mean over ``unit`` averages a depth-limited run."""
    out: dict[str, list[str]] = {}
    for system, metric in sorted(agg.depth_limited[unit]):
        out.setdefault(system, []).append(metric)
    return out


def _summaries(
    suite: Suite,
    agg: Aggregate,
    labels: Mapping[str, str],
    comparisons: pd.DataFrame,
    baselines: list[str],
    mean_tests: pd.DataFrame,
) -> tuple[list[Table], list[str]]:
    """Group means and the suite mean, each cell marked with the datasets where the system is significantly better /
    worse than the suite's (first) baseline; the suite mean also ▲/▼ from the means' own paired test across the
    datasets, when the stored comparison has one (``mean_tests``)."""
    tables, notes, members = [], [], []
    metrics = list(agg.metrics)
    for group, values in agg.groups.items():
        datasets = agg.group_members[group]
        tables.append(
            build_table(
                f"group-{_slug(group)}", f"{suite.name} · {group}", metrics, values, labels,
                depth_limited=_limited(agg, group), note=f"mean of {len(datasets)} datasets: {', '.join(datasets)}",
            )
        )  # fmt: skip
        members.append(datasets)
    if len(agg.units) + len(agg.excluded) > 1 and metrics and agg.means:
        note = f"mean over the {len(agg.units)} datasets every system ran on: {', '.join(agg.units)}"
        tested = baselines[0] if baselines and not mean_tests.empty else None
        if tested:
            note += "; ▲/▼ on a mean: the means' own paired test across these datasets (the suite's test and "
            note += "correction, the means as a family of their own)"
        tables.append(
            build_table(
                "suite-mean", f"{suite.name} · mean over datasets", metrics, agg.means, labels,
                depth_limited=_limited(agg, OVERALL), note=note, baseline=tested, comparisons=mean_tests,
            )
        )  # fmt: skip
        members.append([d for unit in agg.units for d in agg.group_members.get(unit, [unit])])
        notes += [f"not in the mean: {unit} ({why})" for unit, why in agg.excluded.items()]
    for t, datasets in zip(tables, members, strict=True) if baselines else ():
        count_significant(t, comparisons, baselines[0], datasets)
    return tables, notes
