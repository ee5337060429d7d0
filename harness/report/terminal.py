"""Plain text for the terminal: a suite comparison (``irh compare``), as tabulate grids."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from harness.analysis.features import FEATURES
from harness.report.results_text import DEPTH_MARK, grid
from harness.report.tables import significance_legend

if TYPE_CHECKING:  # the comparison machinery (scipy, statsmodels) is not loaded for `irh show`
    from harness.analysis.suite_comparison import SuiteComparison

UP, DOWN = "▲", "▼"


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
    lines = [head, grid(["system", *metrics, f"W/T/L {cmp.metric}"], rows)]
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
        lines.append(grid(["bucket", "n", *(cmp.labels.get(s, s) for s in systems)], rows, indent="    "))
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
