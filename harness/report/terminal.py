"""Plain text for the terminal: the results tables (``irh show``) and a suite comparison (``irh compare``), as
tabulate grids."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tabulate import tabulate

from harness.analysis.aggregate import OVERALL, Aggregate, aggregate
from harness.analysis.features import FEATURES
from harness.report.tables import significance_legend
from harness.suite.config import Suite
from harness.suite.results import Results

if TYPE_CHECKING:  # the comparison machinery (scipy, statsmodels) is not loaded for `irh show`
    from harness.analysis.suite_comparison import SuiteComparison

DEPTH_MARK, UP, DOWN = "†", "▲", "▼"


def format_results(suite: Suite, results: Results) -> str:
    means = results.nested()
    out = []
    for ds in suite.datasets:
        facts = results.datasets.get(ds.name)
        head = f"{suite.name} · {ds.name} ({ds.irds_id})"
        if facts:
            head += f": {facts['judged_queries']} judged queries"
            if facts["unjudged_dropped"]:
                head += f", {facts['unjudged_dropped']} without judgments dropped"
            if facts["exclude_self_matches"]:
                head += "; self-matches (doc id = query id) ignored, as in BEIR"
        out.append(head)
        metrics = list(suite.metrics_for(ds.name))
        rows = []
        any_limited = False
        for spec in suite.systems:
            if ds.name not in means or spec.name not in means[ds.name]:
                continue
            info = results.info[(ds.name, spec.name)]
            cells = []
            for m in metrics:
                limited = m in info["depth_limited"]
                any_limited |= limited
                cells.append(f"{means[ds.name][spec.name][m]:.4f}{DEPTH_MARK if limited else ''}")
            rows.append([spec.label or spec.name, *cells])
        if rows:
            out.append(_grid(["system", *metrics], rows))
        elif any(d == ds.name for d, _ in results.missing):
            out.append("  (no results stored yet: run `irh run` first)")
        if any_limited:
            out.append(
                f"  {DEPTH_MARK} depth-limited: the run is shallower than the metric's cut-off "
                "(e.g. AP/R@1000 on a top-100 run), not comparable to full-depth figures"
            )
        for d, s, reason in results.skipped:
            if d == ds.name:
                out.append(f"  skipped {s}: {reason}")
        for d, s in results.missing:
            if d == ds.name:
                out.append(f"  missing {s}: {results.missing_reason(d, s)}")
        out.append("")
    out += _aggregate_section(suite, aggregate(suite, results))
    return "\n".join(out).rstrip() + "\n"


def _aggregate_section(suite: Suite, agg: Aggregate) -> list[str]:
    out = []
    labels = {s.name: s.label or s.name for s in suite.systems}
    for group, values in agg.groups.items():
        members = agg.group_members[group]
        out.append(f"{suite.name} · {group}: mean of {len(members)} datasets ({', '.join(members)})")
        rows = [[labels[s], *(_mean_cell(agg, group, s, m, v[m]) for m in agg.metrics)] for s, v in values.items()]
        out += [_grid(["system", *agg.metrics], rows) if rows else "  (no system has results on every member)", ""]
    if len(agg.units) + len(agg.excluded) > 1 and agg.metrics:
        out.append(
            f"{suite.name} · mean over the {len(agg.units)} dataset(s) every system ran on: {', '.join(agg.units)}"
        )
        rows = [[labels[s], *(_mean_cell(agg, OVERALL, s, m, v[m]) for m in agg.metrics)] for s, v in agg.means.items()]
        out.append(_grid(["system", *agg.metrics], rows) if rows else "  (none)")
        if agg.depth_limited[OVERALL]:
            out.append(f"  {DEPTH_MARK} averages at least one depth-limited run")
        for unit, why in agg.excluded.items():
            out.append(f"  not in the mean: {unit} ({why})")
        out.append("")
    return out


def _mean_cell(agg: Aggregate, unit: str, system: str, metric: str, value: float) -> str:
    return f"{value:.4f}{DEPTH_MARK if (system, metric) in agg.depth_limited[unit] else ''}"


def _grid(header: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    """A plain grid: header, dashes, rows; first column left-aligned, the others right-aligned."""
    align = ("left",) + ("right",) * (len(header) - 1)
    text = tabulate(rows, headers=header, tablefmt="simple", colalign=align, disable_numparse=True)
    return "\n".join(indent + line for line in text.splitlines())


# ---------------------------------------------------------------- irh compare
def format_comparison(cmp: SuiteComparison, stored: Path | None = None, worst_shown: int = 3) -> str:
    s = cmp.settings
    out = []
    for ds, facts in cmp.datasets.items():
        for base in cmp.baselines:
            out.extend(_main_table(cmp, ds, facts, base))
            out.append(f"  {significance_legend(s)}")
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
    if stored is not None:
        out.append(f"stored: {stored}/ (tables, compare.json, plots/)")
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
        comp = comp[(comp["dataset"] == ds) & (comp["baseline"] == base)].set_index(["system", "measure"])
    rows, limited_any = [], False
    for system in dict.fromkeys(means["system"]):
        cells = [cmp.labels.get(system, system)]
        for m in metrics:
            r = means[(means["system"] == system) & (means["metric"] == m)].iloc[0]
            limited_any |= bool(r["depth_limited"])
            c = comp.loc[(system, m)] if system != base and (system, m) in comp.index else None
            mark = (UP if c["delta"] > 0 else DOWN) if c is not None and c["significant"] else ""
            cells.append(f"{r['value']:.4f}{DEPTH_MARK if r['depth_limited'] else ''}{mark}")
        c = comp.loc[(system, cmp.metric)] if system != base and (system, cmp.metric) in comp.index else None
        wtl = f"{c['wins']}/{c['ties']}/{c['losses']}" if c is not None else ""
        cells.append("baseline" if system == base else wtl)
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
    if facts.get("relevant_docs_with_text", 0) < facts.get("relevant_docs", 0):
        lines.append(
            f"  (overlap uses the relevant documents whose text is available: {facts['relevant_docs_with_text']} "
            f"of {facts['relevant_docs']})"
        )
    for feature, desc in FEATURES.items():
        part = b[b["feature"] == feature]
        if part.empty:
            continue
        if feature.startswith("bm25") and facts.get("bm25_source"):
            desc += f"; {facts['bm25_source']}"
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
