"""Plain-text results tables for the terminal (``irh show``)."""

from __future__ import annotations

from harness.results import Results
from harness.suite import Suite

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
        else:
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
                out.append(f"  missing {s}: not in the store (not run yet)")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  " + "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), "  " + "  ".join("-" * w for w in widths), *map(line, rows)])
