"""Comparison plots: sorted per-query deltas, win rates by feature bucket, and quality vs cost (the efficiency–accuracy
frontier). ``plot_specs`` says which plots a suite comparison has (one list for every output format); ``figure`` draws
one. Nothing here writes a file: harness.report.stored_comparison saves figures in the formats it is asked for.

Figures are built with matplotlib's object API (``Figure``), never pyplot, so no global state or GUI backend is
involved and plotting is safe in any process.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.analysis.features import FEATURES, NOT_AVAILABLE
from harness.analysis.stats import outcome
from harness.core.slugs import slug

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn: `irh compare --no-plots` never loads it
    from matplotlib.figure import Figure

    from harness.analysis.suite_comparison import SuiteComparison

WIN, TIE, LOSS = "#2a9d4b", "#9a9a9a", "#c8453a"
KINDS = ("deltas", "buckets", "cost")
# One colour per system, by its place in the suite (labels are in suite order), in every plot and every format.
# Matplotlib's tab10 without its green and red, which mean "system wins" / "baseline wins" in the delta plots.
PALETTE = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
WIDTH = 6.6  # inches: with its margins every figure fits a page's text width (A4, 2 cm margins: 6.7 in) at its size


def system_style(labels: dict[str, str]) -> dict[str, tuple[str, str]]:
    """system → (colour, marker), from the system's place in the suite; systems past the palette repeat colours with
    another marker."""
    n = len(PALETTE)
    return {s: (PALETTE[i % n], MARKERS[(i // n + i) % len(MARKERS)]) for i, s in enumerate(labels)}


@dataclass(frozen=True)
class PlotSpec:
    """One plot of a suite comparison: what it shows, its title, a file name (no extension) and its data."""

    kind: str  # one of KINDS
    dataset: str
    metric: str
    baseline: str | None
    title: str
    name: str
    data: pd.DataFrame


def plot_specs(cmp: SuiteComparison) -> list[PlotSpec]:
    """The plots of a comparison on its ``metric``: per dataset and baseline the per-query deltas and the win rates
    by feature bucket; per dataset the quality/cost scatter (when some query time is known)."""
    out = []
    m = cmp.metric
    for ds in cmp.datasets:
        for base in cmp.baselines:
            blabel = cmp.labels.get(base, base)
            for kind, table, what in (
                ("deltas", cmp.deltas, f"per-query Δ vs {blabel}"),
                ("buckets", cmp.buckets, f"win rates vs {blabel} by query-feature bucket"),
            ):
                if table.empty:
                    continue
                part = table[(table["dataset"] == ds) & (table["baseline"] == base) & (table["metric"] == m)]
                if not part.empty:
                    name = f"{slug(ds)}__{slug(m)}__{'deltas' if kind == 'deltas' else 'win_rate_by_bucket'}"
                    title = f"{cmp.suite} · {ds} · {m}: {what}"
                    out.append(PlotSpec(kind, ds, m, base, title, f"{name}_vs_{slug(base)}", part))
        if not cmp.cost.empty and m in cmp.cost.columns:
            c = cmp.cost[cmp.cost["dataset"] == ds].rename(columns={m: "value"})
            if c["seconds_per_1k"].notna().any():
                title = f"{cmp.suite} · {ds}: {m} vs query time"
                out.append(PlotSpec("cost", ds, m, None, title, f"{slug(ds)}__{slug(m)}__cost", c))
    return out


def figure(spec: PlotSpec, labels: dict[str, str], tie_tolerance: float) -> Figure:
    if spec.kind == "deltas":
        return delta_bars(spec.data, labels, tie_tolerance, spec.title)
    if spec.kind == "buckets":
        return bucket_win_rates(spec.data, labels, spec.title)
    return cost_scatter(spec.data, spec.metric, spec.title, labels)


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def delta_bars(deltas: pd.DataFrame, labels: dict[str, str], tie_tolerance: float, title: str) -> Figure:
    """One panel per system: its per-query delta (system − baseline) sorted, green where the system wins, red where
    the baseline wins. ``deltas``: one dataset, baseline and metric (columns system, delta)."""
    systems = list(dict.fromkeys(deltas["system"]))
    rows, cols = _grid(len(systems))
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, 0.3 + 2.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    for ax in axes.flat[len(systems) :]:
        ax.set_visible(False)
    for ax, system in zip(axes.flat, systems, strict=False):
        d = np.sort(deltas.loc[deltas["system"] == system, "delta"].to_numpy(dtype=float))
        kind = outcome(d, tie_tolerance)
        for k, colour in (("loss", LOSS), ("tie", TIE), ("win", WIN)):
            for a, b in _runs(kind == k):  # query i is the step [i, i + 1): a few filled paths, not a bar a query
                y = np.append(d[a:b], d[b - 1])
                ax.fill_between(np.arange(a, b + 1), y, 0, step="post", color=colour, linewidth=0)
        ax.axhline(0, color="black", linewidth=0.6)
        w, t, lo = (int((kind == k).sum()) for k in ("win", "tie", "loss"))
        ax.set_xlim(0, max(d.size, 1))
        ax.set_title(f"{_short(labels, system)}\nW/T/L {w}/{t}/{lo}", fontsize=8)
        ax.set_xlabel("queries (sorted by Δ)", fontsize=8)
        ax.set_xticks([])
        ax.tick_params(labelsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("Δ vs baseline", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return fig


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def bucket_win_rates(buckets: pd.DataFrame, labels: dict[str, str], title: str) -> Figure:
    """One panel per feature: per quantile bucket the share of queries each system wins (solid) and the share the
    baseline wins (dashed), in the system's colour. Queries whose feature is undefined (the ``n/a`` bucket) are drawn
    apart, right of a dotted line and not joined to the buckets. ``buckets``: one dataset, baseline, metric
    (harness.analysis.wins.bucket_table)."""
    features = [f for f in FEATURES if f in set(buckets["feature"])]
    systems = [s for s in labels if s in set(buckets["system"])]  # suite order
    style = system_style(labels)
    rows, cols = _grid(len(features) + 1)  # the last panel holds the legend
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(WIDTH, 0.5 + 2.1 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, feature in zip(axes.flat, features, strict=False):
        part = buckets[buckets["feature"] == feature]
        order = part.drop_duplicates("bucket").sort_values("bucket")
        real, apart = order[order["label"] != NOT_AVAILABLE], order[order["label"] == NOT_AVAILABLE]
        x = np.arange(len(real), dtype=float)
        x_apart = len(real) + 0.4 + np.arange(len(apart))
        for system in systems:
            colour, marker = style[system]
            s = part[part["system"] == system].set_index("bucket")
            label = labels.get(system, system)
            for col, line, name in (("win_rate", "-", label), ("loss_rate", "--", f"{label} (baseline wins)")):
                y = s[col].reindex(real["bucket"]).to_numpy(dtype=float)
                ax.plot(x, y, linestyle=line, marker=marker, markersize=3.5, color=colour, linewidth=1.1, label=name)
                if len(apart):
                    y = s[col].reindex(apart["bucket"]).to_numpy(dtype=float)
                    ax.plot(x_apart, y, linestyle="none", marker=marker, markersize=3.5, color=colour,
                            markerfacecolor="none" if line == "--" else colour)  # fmt: skip
        if len(apart):
            ax.axvline(len(real) - 0.3, color="#777777", linestyle=":", linewidth=0.8)
        ticks = [f"{lab}\n(n={n})" for lab, n in zip(order["label"], order["n"], strict=True)]
        ticks = ticks[len(apart) :] + ticks[: len(apart)]  # bucket 0 (n/a) sorts first; it is drawn last
        ax.set_xticks(np.concatenate([x, x_apart]), ticks, fontsize=6, rotation=35 if len(ticks) > 3 else 0,
                      ha="right" if len(ticks) > 3 else "center")  # fmt: skip
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(feature, fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of queries won", fontsize=7)
    legend_ax = axes.flat[len(features)]
    for ax in axes.flat[len(features) :]:
        ax.set_axis_off()
    handles = [Line2D([], [], color=style[s][0], marker=style[s][1], label=_short(labels, s)) for s in systems]
    handles += [
        Line2D([], [], color="black", linestyle="-", label="system wins"),
        Line2D([], [], color="black", linestyle="--", label="baseline wins"),
    ]
    legend_ax.legend(handles=handles, fontsize=6.5, loc="center", frameon=False)
    fig.suptitle(title, fontsize=9)
    return fig


def cost_scatter(cost: pd.DataFrame, metric: str, title: str, labels: dict[str, str] | None = None) -> Figure:
    """Quality (mean ``metric``) against query-time wall seconds per 1k queries (log scale; corpus encoding and
    indexing excluded, upstream stages included), with the Pareto frontier (no other system is both cheaper and
    better). One colour and marker per system (``system_style``), named in the legend below the axes (no labels
    beside the points, which overlap). ``cost``: one dataset, columns system, label, seconds_per_1k, value,
    imported. Imported runs are hollow: their time is that of reading a file, not of retrieval. Rows whose query
    time is unknown (runs stored before corpus work was timed) are left out and named in a note."""
    if "system" not in cost.columns:  # a table without system names: the labels name them
        cost = cost.assign(system=cost["label"])
    scored = cost.dropna(subset=["value"])
    unknown = scored.loc[scored["seconds_per_1k"].isna(), "label"].tolist()
    data = scored.dropna(subset=["seconds_per_1k"])
    data = data[data["seconds_per_1k"] > 0]
    labels = labels or dict(zip(cost["system"], cost["label"], strict=True))
    style = system_style(labels)
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    fig = Figure(figsize=(WIDTH * 0.8, 4.4), layout="constrained")
    ax = fig.subplots()
    frontier = pareto_frontier(data)
    if len(frontier) > 1:
        ax.step(frontier["seconds_per_1k"], frontier["value"], where="post", color="#555555", linewidth=0.9,
                linestyle="--", label="Pareto frontier", zorder=1)  # fmt: skip
    for row in data.itertuples(index=False):
        colour, marker = style.get(row.system, (PALETTE[0], "o"))
        label = row.label + (" (imported: time = reading the file)" if row.imported else "")
        ax.scatter(row.seconds_per_1k, row.value, s=42, marker=marker, edgecolors=colour, linewidths=1.2,
                   facecolors="none" if row.imported else colour, label=label, zorder=2)  # fmt: skip
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.08, y=0.08)
    ax.set_xlabel(
        "query-time wall seconds per 1k queries\n(corpus encoding/indexing excluded; pipeline incl. upstream stages)",
        fontsize=8,
    )
    ax.set_ylabel(metric, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if len(data):  # below the axes, so it never hides a point
        fig.legend(fontsize=7, loc="outside lower center", ncols=2, frameon=False)
    if unknown:
        fig.suptitle(title, fontsize=9)
        note = "not shown, query time unknown (run stored before corpus work was timed): " + ", ".join(unknown)
        ax.set_title("\n".join(textwrap.wrap(note, 100)), fontsize=7, loc="left")
    else:
        ax.set_title(title, fontsize=9)
    return fig


def _short(labels: dict[str, str], system: str) -> str:
    return textwrap.shorten(labels.get(system, system), 40, placeholder="…")


def pareto_frontier(data: pd.DataFrame) -> pd.DataFrame:
    """Rows not dominated (another row with cost ≤ and value ≥, one strictly), sorted by cost."""
    ordered = data.sort_values(["seconds_per_1k", "value"], ascending=[True, False])
    keep, best = [], -math.inf
    for idx, value in zip(ordered.index, ordered["value"], strict=True):
        if value > best:
            keep.append(idx)
            best = value
    return ordered.loc[keep]
