"""The report's plots, checked on what they draw: the win-rate plot keeps the ``n/a`` bucket apart from the quantile
buckets, the cost plot names systems in a legend (no overlapping point labels, no "computed here"), every plot gives
a system the same colour, the per-query delta plot's filled areas are the deltas, and every figure is drawn at most a
page's text width wide (so LaTeX includes it at about its natural size)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from harness.analysis import plots
from harness.analysis.features import NOT_AVAILABLE

LABELS = {"bm25": "BM25", "dense": "MiniLM", "rrf": "RRF(BM25, MiniLM)", "splade": "SPLADE"}


def _buckets() -> pd.DataFrame:
    """query_terms: the n/a bucket (n = 5, no wins: 0.0) and three quantile buckets; two systems against bm25."""
    rows = []
    for system, shift in (("dense", 0.0), ("rrf", 0.1)):
        for bucket, label, n, win in ((0, NOT_AVAILABLE, 5, 0.0), (1, "1–3", 40, 0.5), (2, "4–6", 30, 0.4),
                                      (3, "7–20", 25, 0.3)):  # fmt: skip
            rows.append(
                {"feature": "query_terms", "bucket": bucket, "label": label, "n": n, "system": system,
                 "win_rate": win + shift if n > 5 else 0.0, "loss_rate": 0.2 if n > 5 else 0.0}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_win_rate_plot_draws_the_na_bucket_apart() -> None:
    fig = plots.bucket_win_rates(_buckets(), LABELS, "t")
    ax = fig.axes[0]
    style = plots.system_style(LABELS)
    joined = [ln for ln in ax.get_lines() if ln.get_linestyle() in ("-", "--")]
    assert len(joined) == 4  # two systems × (system wins, baseline wins)
    for line in joined:
        assert list(line.get_xdata()) == [0, 1, 2]  # the three quantile buckets only, never the n/a bucket
    by_colour = {to_hex(ln.get_color()): ln for ln in joined if ln.get_linestyle() == "-"}
    assert list(by_colour[style["rrf"][0]].get_ydata()) == pytest.approx([0.6, 0.5, 0.4])
    assert list(by_colour[style["dense"][0]].get_ydata()) == pytest.approx([0.5, 0.4, 0.3])
    apart = [ln for ln in ax.get_lines() if ln.get_linestyle() == "None"]
    assert len(apart) == 4 and all(list(ln.get_xdata()) == [3.4] for ln in apart)  # alone, right of the buckets
    separators = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert len(separators) == 1 and 2 < separators[0].get_xdata()[0] < 3.4
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["1–3\n(n=40)", "4–6\n(n=30)", "7–20\n(n=25)", "n/a\n(n=5)"]
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend == ["MiniLM", "RRF(BM25, MiniLM)", "system wins", "baseline wins"]


def _cost() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "system": ["bm25", "dense", "rrf", "splade"],
            "label": [LABELS[s] for s in ("bm25", "dense", "rrf", "splade")],
            "seconds_per_1k": [2.0, 2.1, 2.2, 40.0],  # close together: labels beside the points would overlap
            "value": [0.60, 0.61, 0.65, 0.63],
            "imported": [False, False, False, True],
        }
    )


def test_cost_plot_names_systems_in_a_legend_in_their_colours() -> None:
    fig = plots.cost_scatter(_cost(), "nDCG@10", "t", LABELS)
    ax = fig.axes[0]
    assert len(ax.texts) == 0  # no labels beside the points
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["Pareto frontier", "BM25", "MiniLM", "RRF(BM25, MiniLM)",
                      "SPLADE (imported: time = reading the file)"]  # fmt: skip
    assert not any("computed here" in t for t in legend)
    style = plots.system_style(LABELS)
    points = ax.collections
    assert len(points) == 4
    for coll, (_i, row) in zip(points, _cost().iterrows(), strict=True):
        assert tuple(coll.get_offsets()[0]) == pytest.approx((row.seconds_per_1k, row.value))
        assert to_hex(coll.get_edgecolor()[0]) == style[row.system][0]
        assert (len(coll.get_facecolor()) == 0 or coll.get_facecolor()[0][3] == 0) == row.imported  # hollow
    frontier = next(ln for ln in ax.get_lines() if ln.get_label() == "Pareto frontier")
    assert list(frontier.get_xdata()) == [2.0, 2.1, 2.2] and list(frontier.get_ydata()) == [0.60, 0.61, 0.65]


def test_a_system_has_one_colour_in_every_plot() -> None:
    """Colours follow the suite's order of systems, whatever a plot shows: RRF keeps its colour when another system
    has no data, in the win-rate and the cost plot alike (and in every format: they draw the same figures)."""
    style = plots.system_style(LABELS)
    assert len({c for c, _m in style.values()}) == len(LABELS)
    assert not {c for c, _m in style.values()} & {plots.WIN, plots.LOSS}  # green/red mean win/loss
    bucket_fig = plots.bucket_win_rates(_buckets()[lambda d: d["system"] == "rrf"], LABELS, "t")
    (line,) = [ln for ln in bucket_fig.axes[0].get_lines() if ln.get_linestyle() == "-"]
    cost_fig = plots.cost_scatter(_cost()[lambda d: d["system"] != "dense"], "nDCG@10", "t", LABELS)
    (rrf,) = [c for c in cost_fig.axes[0].collections if c.get_label() == LABELS["rrf"]]
    assert to_hex(line.get_color()) == to_hex(rrf.get_edgecolor()[0]) == style["rrf"][0]


def _area(paths) -> float:
    total = 0.0
    for path in paths:
        v = path.vertices
        total += 0.5 * abs(np.dot(v[:, 0], np.roll(v[:, 1], 1)) - np.dot(v[:, 1], np.roll(v[:, 0], 1)))
    return total


def test_delta_plot_fills_the_sorted_deltas() -> None:
    rng = np.random.default_rng(0)
    d = np.round(rng.normal(0, 0.2, 1500), 3)
    d[:200] = 0.0
    deltas = pd.DataFrame({"system": "rrf", "delta": d})
    fig = plots.delta_bars(deltas, LABELS, 0.0, "t")
    ax = fig.axes[0]
    areas = {}
    for coll in ax.collections:
        colour = to_hex(coll.get_facecolor()[0])
        areas[colour] = areas.get(colour, 0.0) + _area(coll.get_paths())
    # query i is the step [i, i + 1) at height Δ_i: the filled area of a colour is the sum of its |Δ|
    assert areas[plots.WIN] == pytest.approx(d[d > 0].sum(), rel=1e-9)
    assert areas[plots.LOSS] == pytest.approx(-d[d < 0].sum(), rel=1e-9)
    assert len(ax.collections) <= 3  # a few paths, not a bar per query
    assert ax.get_title().endswith(f"W/T/L {(d > 0).sum()}/{(d == 0).sum()}/{(d < 0).sum()}")


@pytest.mark.parametrize("n_systems", [1, 3, 7])
def test_figures_fit_a_page_width(n_systems: int) -> None:
    labels = {f"s{i}": f"system {i}" for i in range(n_systems)}
    deltas = pd.DataFrame({"system": np.repeat(list(labels), 50), "delta": np.tile(np.linspace(-1, 1, 50), n_systems)})
    buckets = pd.concat([_buckets().assign(feature=f) for f in list(plots.FEATURES)])
    cost = _cost().assign(system=lambda d: d["system"].map(dict(zip(LABELS, labels, strict=False))))
    for fig in (
        plots.delta_bars(deltas, labels, 0.0, "t"),
        plots.bucket_win_rates(buckets, LABELS, "t"),
        plots.cost_scatter(cost.dropna(subset=["system"]), "nDCG@10", "t", labels),
    ):
        width, height = fig.get_size_inches()
        assert width <= plots.WIDTH and height <= 9  # a page's text width; fonts 6.5-9 pt stay that size
