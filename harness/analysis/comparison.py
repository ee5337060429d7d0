"""Compare systems with baselines from per-query scores: paired significance tests, the multiple-comparison
correction over every comparison made, effect sizes and win/tie/loss. Pure: DataFrames in, a ``Comparison`` out.

    cmp = compare(per_query, baselines="bm25", test="t-test", correction="holm")
    cmp.to_frame()   # one row per (dataset, measure, baseline, system)
    cmp.to_latex()   # a booktabs table per dataset

``per_query`` is long: columns ``system, query_id, measure, value`` and optionally ``dataset`` (``metric`` is accepted
for ``measure``: harness.suite.results names it so).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.stats import COLUMNS as STATS_COLUMNS
from harness.analysis.stats import compare_systems, correct_table
from harness.analysis.wins import per_query_deltas, wtl_table
from harness.core.measures import DIAGNOSTICS
from harness.core.significance import Correction, Test

N_BOOTSTRAP = 10_000
SEED = 0
# the tidy frame: stats' column → name in Comparison.to_frame()
RENAMED = {
    "metric": "measure",
    "mean_baseline": "baseline_mean",
    "mean_system": "mean",
    "mean_diff": "delta",
    "p_value": "p",
    "p_adjusted": "p_corrected",
}
COLUMNS = [
    "dataset", "measure", "baseline", "system", "n", "baseline_mean", "mean", "delta", "ci_low", "ci_high",
    "effect_size", "mde", "statistic", "p", "p_corrected", "significant", "comparable", "wins", "ties", "losses",
    "test", "correction",
]  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    """Every (dataset, measure, baseline, system) comparison, corrected as one family, and the settings used."""

    table: pd.DataFrame  # COLUMNS
    test: Test
    correction: Correction
    alpha: float
    tie_tolerance: float
    n_permutations: int
    has_dataset: bool = True  # False when per_query had no dataset column: to_frame() leaves it out

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "test": self.test.value,
            "correction": self.correction.value,
            "alpha": self.alpha,
            "tie_tolerance": self.tie_tolerance,
            "n_permutations": self.n_permutations,
            "n_comparisons": int(self.table["comparable"].sum()),  # the correction family: the comparisons tested
            "n_not_comparable": int((~self.table["comparable"].astype(bool)).sum()),
            "bootstrap_resamples": N_BOOTSTRAP,
            "confidence": 0.95,
            "seed": SEED,
        }

    def to_frame(self) -> pd.DataFrame:
        """Tidy: one row per comparison; ``delta`` = system − baseline (positive: the system is better)."""
        return self.table.copy() if self.has_dataset else self.table.drop(columns="dataset")

    def to_dict(self) -> dict[str, Any]:
        """Settings and the comparisons as JSON-ready records (NaN/inf → None)."""
        return {"settings": self.settings, "comparisons": records(self.to_frame())}

    def to_latex(self, digits: int = 4) -> str:
        """One booktabs table per dataset: rows are the baseline then the systems, columns the measures; a value is
        marked ▲/▼ when significantly better/worse than the baseline after correction (needs ``amssymb``)."""
        return "\n".join(_latex_table(self, ds, base, digits) for ds, base in self._blocks())

    def _blocks(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys(zip(self.table["dataset"], self.table["baseline"], strict=True)))


def compare(
    per_query: pd.DataFrame,
    baselines: str | Sequence[str] | None = None,
    test: Test | str = Test.T_TEST,
    correction: Correction | str = Correction.HOLM,
    alpha: float = 0.05,
    *,
    measures: Sequence[str] | None = None,
    systems: Sequence[str] | None = None,
    tie_tolerance: float = 0.0,
    n_permutations: int = 100_000,
    depth_limited: Collection[tuple[str, str, str]] = (),
) -> Comparison:
    """Test every system against every baseline on every dataset and measure of ``per_query``; the correction runs
    over ALL these comparisons (one family). ``baselines`` defaults to the first system of ``per_query``;
    ``systems`` (default: all) restricts what is compared and ``measures`` (default: all but the diagnostics such as
    Judged@10, which are never tested); a dataset on which a baseline has no scores is skipped
    for that baseline. Bootstrap CIs (10,000 resamples) and the randomization test are seeded (seed 0).

    ``depth_limited``: (dataset, system, measure) of runs shallower than the measure looks (R@1000 of a top-100 run;
    dataset "" when per_query has no dataset column). A comparison where either run is depth-limited is not comparable:
    it is not tested (``comparable`` False; p, CI, effect size and MDE NaN) and is not in the correction family; its
    means, delta and W/T/L are still reported."""
    test, correction = Test.parse(test), Correction.parse(correction)
    pq = _long(per_query)
    names = list(pd.unique(pq["system"]))
    bases = list(dict.fromkeys([baselines] if isinstance(baselines, str) else baselines or names[:1]))
    unknown = [b for b in bases if b not in names]
    if unknown:
        raise ValueError(f"baseline(s) {unknown} have no per-query scores; systems: {names}")
    wanted = list(measures) if measures is not None else [m for m in pd.unique(pq["metric"]) if m not in DIAGNOSTICS]
    limited = set(depth_limited)
    tables, deltas = [], []
    for ds, ds_pq in pq.groupby("dataset", sort=False):
        present = [s for s in names if s in set(ds_pq["system"]) and (systems is None or s in systems or s in bases)]
        for base in [b for b in bases if b in present]:
            others = [s for s in present if s != base]
            if not others:
                continue
            for m in [m for m in wanted if m in set(ds_pq["metric"])]:
                untested = [s for s in others if {(ds, base, m), (ds, s, m)} & limited]
                tested = [s for s in others if s not in untested]
                if tested:
                    table = compare_systems(
                        ds_pq, base, m, test, correction, alpha, systems=tested,
                        n_permutations=n_permutations, n_resamples=N_BOOTSTRAP, seed=SEED,
                    )  # fmt: skip
                    tables.append(table.assign(dataset=ds, comparable=True))
                if untested:
                    tables.append(_not_compared(ds_pq, base, m, untested, test, correction).assign(dataset=ds))
            d = per_query_deltas(ds_pq[ds_pq["metric"].isin(wanted)], base, others)
            deltas.append(wtl_table(d, tie_tolerance).assign(dataset=ds))
    if not tables:
        table = pd.DataFrame(columns=COLUMNS)
    else:
        table = _corrected(pd.concat(tables, ignore_index=True), correction, alpha)
        wtl = pd.concat(deltas, ignore_index=True).drop(columns="n")
        table = table.merge(wtl, on=["dataset", "metric", "baseline", "system"], how="left")
        table = table.rename(columns=RENAMED)[COLUMNS]
    has_dataset = "dataset" in per_query.columns
    return Comparison(table, test, correction, alpha, tie_tolerance, n_permutations, has_dataset)


def _not_compared(
    ds_pq: pd.DataFrame, base: str, metric: str, systems: list[str], test: Test, correction: Correction
) -> pd.DataFrame:
    """Rows of comparisons that are not tested: means and delta over the queries both runs scored, no inference."""
    wide = ds_pq[ds_pq["metric"] == metric].pivot(index="query_id", columns="system", values="value")
    rows = []
    for system in systems:
        pair = wide[[base, system]].dropna()
        mean_base, mean_system = float(pair[base].mean()), float(pair[system].mean())
        rows.append(
            {"baseline": base, "system": system, "metric": metric, "n": len(pair), "mean_baseline": mean_base,
             "mean_system": mean_system, "mean_diff": mean_system - mean_base, "test": test.value,
             "correction": correction.value, "significant": False, "comparable": False}
        )  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=[*STATS_COLUMNS, "comparable"])


def _corrected(table: pd.DataFrame, correction: Correction, alpha: float) -> pd.DataFrame:
    """The correction over the comparable rows alone (the family); the others keep p NaN and are not significant."""
    table = table.astype({"comparable": bool})
    family = table["comparable"]
    if not family.any():
        return table.assign(significant=False)
    corrected = correct_table(table[family], correction, alpha)
    table.loc[family, ["p_adjusted", "significant"]] = corrected[["p_adjusted", "significant"]]
    return table.astype({"significant": bool})


def _long(per_query: pd.DataFrame) -> pd.DataFrame:
    """per_query with the columns stats reads: dataset, system, query_id, metric, value."""
    pq = per_query.rename(columns={"measure": "metric"}) if "measure" in per_query.columns else per_query
    need = {"system", "query_id", "metric", "value"}
    if not need <= set(pq.columns):
        raise ValueError(f"per_query needs columns system, query_id, measure, value; has {list(per_query.columns)}")
    return pq if "dataset" in pq.columns else pq.assign(dataset="")


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values (NaN/inf → None), ready for JSON."""

    def clean(v: Any) -> Any:
        if isinstance(v, float | np.floating):
            return float(v) if math.isfinite(v) else None
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, np.bool_):
            return bool(v)
        return v

    return [{k: clean(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def _latex_table(cmp: Comparison, dataset: str, baseline: str, digits: int) -> str:
    t = cmp.table[(cmp.table["dataset"] == dataset) & (cmp.table["baseline"] == baseline)]
    measures = list(dict.fromkeys(t["measure"]))
    first = t.drop_duplicates("measure").set_index("measure")["baseline_mean"]
    rows = {baseline: {m: f"{first[m]:.{digits}f}" for m in measures}}
    for r in t.itertuples(index=False):
        mark = (r"$^{\blacktriangle}$" if r.delta > 0 else r"$^{\blacktriangledown}$") if r.significant else ""
        mark = mark if r.comparable else r"\textsuperscript{n/c}"
        rows.setdefault(r.system, {})[r.measure] = f"{r.mean:.{digits}f}{mark}"
    wide = pd.DataFrame.from_dict(rows, orient="index")[measures].fillna("--")
    if dataset:  # the dataset names the column group (escaped with the headers)
        wide.columns = pd.MultiIndex.from_product([[dataset], measures])
    caption = (
        r"Mean per system; first row: the baseline; $\blacktriangle$/$\blacktriangledown$: significantly "
        f"better/worse than the baseline ({cmp.test.label}, {cmp.correction.label} correction over all "
        rf"{cmp.settings['n_comparisons']} comparisons tested, $\alpha = {cmp.alpha:g}$)"
        + (r"; n/c: not comparable (a depth-limited run), not tested." if not cmp.table["comparable"].all() else ".")
    )
    styler = wide.style.format_index(escape="latex", axis=0).format_index(escape="latex", axis=1)
    return styler.to_latex(
        column_format="l" + "r" * len(measures),
        hrules=True,
        caption=caption,
        position_float="centering",
        multicol_align="c",
    )
