"""Plain text for the terminal: a suite comparison (``irh compare``), as tabulate grids."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from harness.analysis.features import FEATURES
from harness.core.measures import JUDGED_AT_10
from harness.core.significance import Correction, Test
from harness.report.results_text import DEPTH_MARK, grid
from harness.report.tables import significance_legend

if TYPE_CHECKING:  # the comparison machinery (scipy, statsmodels) is not loaded for `irh show`
    from harness.analysis.suite_comparison import SuiteComparison

UP, DOWN = "▲", "▼"
QUERY_ID_WIDTH = 24  # longer query ids are shortened in the "largest margin" lists


# ---------------------------------------------------------------- irh compare
NOT_COMPARABLE = "n/c"


def format_comparison(cmp: SuiteComparison, stored: Path | None = None, worst_shown: int = 3) -> str:
    s = cmp.settings
    out = ["condensed lists: every run evaluated with its unjudged documents removed", ""] if s.get("condensed") else []
    for ds, facts in cmp.datasets.items():
        for base in cmp.baselines:
            out.extend(_main_table(cmp, ds, facts, base))
            out.extend(_tests_table(cmp, ds, base))
            out.append(f"  {significance_legend(s)}")
            out.extend(_legend(cmp, ds, base))
            out.extend(_bucket_tables(cmp, ds, base))
            out.extend(_worst(cmp, ds, base, worst_shown))
            out.append("")
    out.extend(_mean_tests(cmp))
    for d, sname in cmp.missing:
        out.append(f"missing: {d}/{sname} is not in the store (run `irh run` first); left out of the comparison")
    out.extend(f"note: {n}" for n in cmp.notes)
    if stored is not None:
        out.append(f"stored: {stored}/ (tables, compare.json, plots/)")
    return "\n".join(out).rstrip() + "\n"


def _block(cmp: SuiteComparison, ds: str, base: str) -> pd.DataFrame:
    """The comparisons of one dataset against one baseline."""
    comp = cmp.comparisons
    if comp.empty:
        return comp
    return comp[(comp["dataset"] == ds) & (comp["baseline"] == base)]


def _main_table(cmp: SuiteComparison, ds: str, facts: dict, base: str) -> list[str]:
    head = f"{cmp.suite} · {ds}"
    if facts:
        head += f" ({facts.get('irds_id', '')}): {facts.get('judged_queries', '?')} judged queries"
    head += f" · baseline {cmp.labels[base]}"
    means = cmp.means[cmp.means["dataset"] == ds]
    metrics = list(dict.fromkeys(means["metric"]))
    comp = _block(cmp, ds, base)
    comp = comp.set_index(["system", "measure"]) if not comp.empty else comp
    rows, limited_any = [], False
    for system in dict.fromkeys(means["system"]):
        cells = [cmp.labels.get(system, system)]
        for m in metrics:
            r = means[(means["system"] == system) & (means["metric"] == m)].iloc[0]
            limited_any |= bool(r["depth_limited"])
            c = comp.loc[(system, m)] if system != base and (system, m) in comp.index else None
            cells.append(f"{r['value']:.4f}{DEPTH_MARK if r['depth_limited'] else ''}{_mark(c)}")
        c = comp.loc[(system, cmp.metric)] if system != base and (system, cmp.metric) in comp.index else None
        wtl = f"{c['wins']}/{c['ties']}/{c['losses']}" if c is not None else ""
        cells.append("baseline" if system == base else wtl)
        rows.append(cells)
    lines = [head, grid(["system", *metrics, f"W/T/L {cmp.metric}"], rows)]
    if limited_any:
        lines.append(f"  {DEPTH_MARK} depth-limited: the run is shallower than the metric's cut-off")
    return lines


def _mark(c: pd.Series | None) -> str:
    if c is None:
        return ""
    if not c["comparable"]:
        return f" {NOT_COMPARABLE}"
    return (UP if c["delta"] > 0 else DOWN) if c["significant"] else ""


def _tests_table(cmp: SuiteComparison, ds: str, base: str) -> list[str]:
    """Per system and measure: Δ, its bootstrap CI, p before and after the correction, the MDE and W/T/L."""
    comp = _block(cmp, ds, base)
    if comp.empty:
        return []
    rows = []
    for system, g in comp.groupby("system", sort=False):
        for i, r in enumerate(g.itertuples(index=False)):
            name = cmp.labels.get(system, system) if i == 0 else ""
            wtl = f"{r.wins}/{r.ties}/{r.losses}"
            if not r.comparable:
                rows.append([name, r.measure, f"{r.delta:+.4f}", NOT_COMPARABLE, "", "", "", wtl])
                continue
            mark = (UP if r.delta > 0 else DOWN) if r.significant else ""
            rows.append([
                name, r.measure, f"{r.delta:+.4f}", f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]", _p(r.p),
                f"{_p(r.p_corrected)}{mark}", f"{r.mde:.4f}", wtl,
            ])  # fmt: skip
    header = ["system", "measure", "Δ", "95% CI", "p", "p (adj.)", "MDE", "W/T/L"]
    return [grid(header, rows, align=("left", "left", *("right",) * 6))]


def _p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _legend(cmp: SuiteComparison, ds: str, base: str) -> list[str]:
    s, comp = cmp.settings, _block(cmp, ds, base)
    lines = [
        f"  Δ = system − {cmp.labels[base]}; 95% CI: bootstrap over queries; p (adj.): {s['correction']}-corrected "
        f"over the {s['n_comparisons']} comparisons tested; MDE: the smallest Δ detectable with 80 % power "
        f"(paired t approximation at α = {s['alpha']:g}); W/T/L: queries the system wins/ties/loses "
        f"(tie tolerance {s['tie_tolerance']:g})"
    ]
    if not comp.empty and not comp["comparable"].all():
        lines.append(
            f"  {NOT_COMPARABLE}: not comparable (a run is depth-limited for the measure): not tested and left out of "
            f"the correction family ({s.get('n_not_comparable', 0)} such comparisons in the suite)"
        )
    if not comp.empty and "shallow_judgments" in comp.columns:
        shallow = comp[comp["shallow_judgments"]].drop_duplicates("system")
        for r in shallow.itertuples(index=False):
            lines.append(
                f"  ! {cmp.labels.get(r.system, r.system)}: {JUDGED_AT_10} {r.judged_at_10:.2f} vs "
                f"{r.baseline_judged_at_10:.2f} for {cmp.labels[base]}: many of its top-10 documents are unjudged "
                "(counted as non-relevant), so its scores may be underestimated; compare with --condensed"
            )
    return lines


def _mean_tests(cmp: SuiteComparison) -> list[str]:
    """The suite means, tested paired across datasets (a family of its own)."""
    t = cmp.mean_tests
    if t.empty:
        return []
    n = int(t["n_datasets"].iloc[0])
    tested = int(t["comparable"].sum())
    lines = [
        f"{cmp.suite} · suite means over {n} datasets: {Test(t['test'].iloc[0]).label} over the datasets "
        "(pairs: datasets), "
        f"{Correction(t['correction'].iloc[0]).label} correction over these {tested} comparisons; W/T/L: datasets"
    ]
    for base, g in t.groupby("baseline", sort=False):
        rows = []
        for r in g.itertuples(index=False):
            if r.comparable:
                mark = (UP if r.delta > 0 else DOWN) if r.significant else ""
                test = [_p(r.p), f"{_p(r.p_corrected)}{mark}", f"{r.mde:.4f}"]
            else:
                test = [NOT_COMPARABLE, "", ""]
            rows.append([cmp.labels.get(r.system, r.system), r.measure, f"{r.baseline_mean:.4f}", f"{r.mean:.4f}",
                         f"{r.delta:+.4f}", *test, f"{r.wins}/{r.ties}/{r.losses}"])  # fmt: skip
        header = ["system", "measure", cmp.labels.get(base, base), "mean", "Δ", "p", "p (adj.)", "MDE", "W/T/L"]
        lines.append(grid(header, rows, align=("left", "left", *("right",) * 7)))
    return [*lines, ""]


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
    lines = [f"  Queries {cmp.labels[base]} wins by the largest margin ({cmp.metric}):"]
    for system, g in w.groupby("system", sort=False):
        lines.append(f"    {cmp.labels.get(system, system)}:")
        overlap = "overlap" in g.columns
        rows = [
            [_shorten(str(r.query_id), QUERY_ID_WIDTH), f"{r.baseline_value:.3f}", f"{r.system_value:.3f}",
             *([f"{r.overlap:.2f}" if pd.notna(r.overlap) else ""] if overlap else []), _shorten(str(r.query), 60)]
            for r in g.itertuples(index=False)
        ]  # fmt: skip
        header = ["query", cmp.labels[base], cmp.labels.get(system, system), *(["overlap"] if overlap else []), "text"]
        align = ("left", "right", "right", *(("right",) if overlap else ()), "left")
        lines.append(grid(header, rows, indent="      ", align=align))
    return lines


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
