"""One results table of a report: rows = systems, columns = metrics, with best/second marks, significance marks from
a stored comparison, depth-limited marks and W/T/L; and the legend of the significance marks."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.core.significance import Correction, Test

DIGITS = 4  # shown decimals; best/second are decided on the shown values, so equal-looking cells get equal marks


def significance_legend(settings: Mapping[str, Any], up: str = "▲", down: str = "▼") -> str:
    """What the significance marks mean: the test, the correction over its family, alpha (from a comparison's
    settings)."""
    test = Test(settings["test"])
    permutations = f", {settings['n_permutations']:,} permutations" if test is Test.RANDOMIZATION else ""
    return (
        f"{up}/{down}: significantly better/worse than the baseline (two-sided {test.label}{permutations}; "
        f"{Correction(settings['correction']).label} correction over all {settings['n_comparisons']} comparisons of "
        f"the suite; α = {settings['alpha']:g})"
    )


@dataclass
class Cell:
    value: float | None
    text: str
    best: bool = False
    second: bool = False
    marker: str | None = None  # "up" / "down": significantly better / worse than the baseline
    p_adjusted: float | None = None
    depth_limited: bool = False
    significant_on: tuple[int, int, int] | None = None  # means over datasets: (better on, worse on, of n datasets)


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

    @property
    def any_significant_on(self) -> bool:
        return any(c.significant_on for r in self.rows for c in r.cells)


def finite(v: Any) -> float | None:
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
    when ``comparisons`` (rows with baseline, system, measure, significant, delta, p_corrected and optionally
    wins/ties/losses: harness.analysis.comparison's tidy frame) says the difference is significant after correction.
    """
    rows_in = comparisons if isinstance(comparisons, pd.DataFrame) else pd.DataFrame(list(comparisons or []))
    comp: dict[tuple[str, str], Mapping[str, Any]] = {}
    if baseline is not None and not rows_in.empty:
        for r in rows_in[rows_in["baseline"] == baseline].to_dict(orient="records"):
            comp[(r["system"], r["measure"])] = r
    limited = {s: set(ms) for s, ms in (depth_limited or {}).items()}
    ranks: dict[str, tuple[float | None, float | None]] = {}
    for m in metrics:
        shown = [round(v, digits) for s in values if (v := finite(values[s].get(m))) is not None]
        distinct = sorted(set(shown), reverse=True)
        ranks[m] = (distinct[0], distinct[1] if len(distinct) > 1 else None) if len(shown) > 1 else (None, None)
    rows = []
    for system, by_metric in values.items():
        cells = []
        for m in metrics:
            v = finite(by_metric.get(m))
            best, second = ranks[m]
            cell = Cell(v, "–" if v is None else f"{v:.{digits}f}", depth_limited=m in limited.get(system, ()))
            if v is not None:
                cell.best = best is not None and round(v, digits) == best
                cell.second = second is not None and round(v, digits) == second
            c = comp.get((system, m))
            if c is not None and system != baseline:
                cell.p_adjusted = finite(c.get("p_corrected"))
                if bool(c.get("significant")):
                    cell.marker = "up" if float(c["delta"]) > 0 else "down"
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
