"""Plain text of a suite's results for the terminal (``irh show``, ``irh run``), as tabulate grids.

Reads only the stored means: no pandas, so ``irh show`` starts fast."""

from __future__ import annotations

from tabulate import tabulate

from harness.analysis.aggregate import OVERALL, Aggregate, aggregate
from harness.core.measures import JUDGED_AT_10, evaluated_measures
from harness.suite.config import Suite
from harness.suite.results import Results

DEPTH_MARK = "†"


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
        metrics = list(evaluated_measures(suite.metrics_for(ds.name)))  # the suite's, then Judged@10
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
            out.append(grid(["system", *metrics], rows))
            out.append(f"  {JUDGED_AT_10}: fraction of the top 10 that is judged (a diagnostic, not a quality measure)")
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
        out += [grid(["system", *agg.metrics], rows) if rows else "  (no system has results on every member)", ""]
    if len(agg.units) + len(agg.excluded) > 1 and agg.metrics:
        out.append(
            f"{suite.name} · mean over the {len(agg.units)} dataset(s) every system ran on: {', '.join(agg.units)}"
        )
        rows = [[labels[s], *(_mean_cell(agg, OVERALL, s, m, v[m]) for m in agg.metrics)] for s, v in agg.means.items()]
        out.append(grid(["system", *agg.metrics], rows) if rows else "  (none)")
        if agg.depth_limited[OVERALL]:
            out.append(f"  {DEPTH_MARK} averages at least one depth-limited run")
        for unit, why in agg.excluded.items():
            out.append(f"  not in the mean: {unit} ({why})")
        out.append("")
    return out


def _mean_cell(agg: Aggregate, unit: str, system: str, metric: str, value: float) -> str:
    return f"{value:.4f}{DEPTH_MARK if (system, metric) in agg.depth_limited[unit] else ''}"


def grid(header: list[str], rows: list[list[str]], indent: str = "  ", align: tuple[str, ...] = ()) -> str:
    """A plain grid: header, dashes, rows; by default the first column left-aligned, the others right-aligned."""
    align = align or ("left",) + ("right",) * (len(header) - 1)
    text = tabulate(rows, headers=header, tablefmt="simple", colalign=align, disable_numparse=True)
    return "\n".join(indent + line for line in text.splitlines())
