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
    return cost_scatter(spec.data, spec.metric, spec.title)


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def delta_bars(deltas: pd.DataFrame, labels: dict[str, str], tie_tolerance: float, title: str) -> Figure:
    """One panel per system: its per-query delta (system − baseline) sorted, green where the system wins, red where
    the baseline wins. ``deltas``: one dataset, baseline and metric (columns system, delta)."""
    systems = list(dict.fromkeys(deltas["system"]))
    rows, cols = _grid(len(systems))
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * cols, 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
    for ax in axes.flat[len(systems) :]:
        ax.set_visible(False)
    for ax, system in zip(axes.flat, systems, strict=False):
        d = np.sort(deltas.loc[deltas["system"] == system, "delta"].to_numpy(dtype=float))
        kind = outcome(d, tie_tolerance)
        colors = np.where(kind == "win", WIN, np.where(kind == "loss", LOSS, TIE))
        ax.bar(np.arange(d.size), d, width=1.0, color=colors, linewidth=0)
        ax.axhline(0, color="black", linewidth=0.6)
        w, t, lo = (int((kind == k).sum()) for k in ("win", "tie", "loss"))
        ax.set_title(f"{labels.get(system, system)}  W/T/L {w}/{t}/{lo}", fontsize=9)
        ax.set_xlabel("queries (sorted by Δ)", fontsize=8)
        ax.set_xticks([])
        ax.tick_params(labelsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("Δ vs baseline", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def bucket_win_rates(buckets: pd.DataFrame, labels: dict[str, str], title: str) -> Figure:
    """Columns = features; top row the systems' win rate per quantile bucket, bottom row the baseline's (the share
    of queries the baseline still wins). ``buckets``: one dataset, baseline, metric
    (harness.analysis.wins.bucket_table)."""
    features = [f for f in FEATURES if f in set(buckets["feature"])]
    systems = [s for s in labels if s in set(buckets["system"])]  # suite order
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.6 * max(len(features), 1), 5.6), layout="constrained")
    axes = fig.subplots(2, max(len(features), 1), squeeze=False, sharey=True)
    for j, feature in enumerate(features):
        part = buckets[buckets["feature"] == feature]
        order = part.drop_duplicates("bucket").sort_values("bucket")
        ticks = [f"{lab}\n(n={n})" for lab, n in zip(order["label"], order["n"], strict=True)]
        x = np.arange(len(order))
        for system in systems:
            s = part[part["system"] == system].set_index("bucket").reindex(order["bucket"])
            for row, col in ((0, "win_rate"), (1, "loss_rate")):
                axes[row, j].plot(x, s[col].to_numpy(), marker="o", label=labels.get(system, system))
        for row in (0, 1):
            ax = axes[row, j]
            ax.set_xticks(x, ticks, fontsize=7, rotation=30 if len(order) > 3 else 0)
            ax.set_ylim(0, 1)
            ax.grid(axis="y", alpha=0.3)
            ax.tick_params(axis="y", labelsize=8)
            if NOT_AVAILABLE in set(order["label"]):
                ax.axvspan(-0.5, 0.5, color="#eeeeee", zorder=0)
        axes[0, j].set_title(feature, fontsize=9)
    axes[0, 0].set_ylabel("system win rate", fontsize=8)
    axes[1, 0].set_ylabel("baseline win rate", fontsize=8)
    if systems:
        axes[0, -1].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    return fig


def cost_scatter(cost: pd.DataFrame, metric: str, title: str) -> Figure:
    """Quality (mean ``metric``) against query-time wall seconds per 1k queries (log scale; corpus encoding and
    indexing excluded, upstream stages included), with the Pareto frontier (no other system is both cheaper and
    better). ``cost``: one dataset, columns label, seconds_per_1k, value, imported. Imported runs are hollow: their
    time is that of reading a file, not of retrieval. Rows whose query time is unknown (runs stored before corpus
    work was timed) are left out and named in a note."""
    scored = cost.dropna(subset=["value"])
    unknown = scored.loc[scored["seconds_per_1k"].isna(), "label"].tolist()
    data = scored.dropna(subset=["seconds_per_1k"])
    data = data[data["seconds_per_1k"] > 0]
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.subplots()
    for imported, group in data.groupby("imported"):
        ax.scatter(
            group["seconds_per_1k"],
            group["value"],
            s=40,
            facecolors="none" if imported else "#1f5fa8",
            edgecolors="#1f5fa8",
            label="imported run (time = reading the file)" if imported else "computed here",
        )
    for row in data.itertuples(index=False):
        ax.annotate(row.label, (row.seconds_per_1k, row.value), fontsize=7, xytext=(4, 3), textcoords="offset points")
    frontier = pareto_frontier(data)
    if len(frontier) > 1:
        ax.step(frontier["seconds_per_1k"], frontier["value"], where="post", color="#c8453a", linewidth=1, alpha=0.7)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.12, y=0.08)  # room for the point labels inside the axes
    ax.set_xlabel(
        "query-time wall seconds per 1k queries\n(corpus encoding/indexing excluded; pipeline incl. upstream stages)",
        fontsize=8,
    )
    ax.set_ylabel(metric, fontsize=8)
    ax.grid(alpha=0.3)
    if len(data):  # below the axes, so it never hides a point
        fig.legend(fontsize=7, loc="outside lower center", ncols=2, frameon=False)
    if unknown:
        fig.suptitle(title, fontsize=10)
        note = "not shown, query time unknown (run stored before corpus work was timed): " + ", ".join(unknown)
        ax.set_title("\n".join(textwrap.wrap(note, 100)), fontsize=7, loc="left")
    else:
        ax.set_title(title, fontsize=10)
    return fig


def pareto_frontier(data: pd.DataFrame) -> pd.DataFrame:
    """Rows not dominated (another row with cost ≤ and value ≥, one strictly), sorted by cost."""
    ordered = data.sort_values(["seconds_per_1k", "value"], ascending=[True, False])
    keep, best = [], -math.inf
    for idx, value in zip(ordered.index, ordered["value"], strict=True):
        if value > best:
            keep.append(idx)
            best = value
    return ordered.loc[keep]
