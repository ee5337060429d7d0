"""System-vs-baseline comparison tables: the layer a suite calls with per-query scores in long format."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from harness.core.significance import Correction, Test

from .corrections import correct
from .effects import bootstrap_ci, cohens_dz, minimum_detectable_effect
from .paired_tests import paired_t_test, wilcoxon_test
from .randomization import SeedLike, randomization_test_many
from .result import TestResult

_PAIRED_TESTS: dict[Test, Callable[[np.ndarray, np.ndarray], TestResult]] = {
    Test.T_TEST: paired_t_test,
    Test.WILCOXON: wilcoxon_test,
}

COLUMNS = [
    "baseline",
    "system",
    "metric",
    "n",
    "mean_baseline",
    "mean_system",
    "mean_diff",
    "ci_low",
    "ci_high",
    "effect_size",
    "mde",
    "statistic",
    "p_value",
    "p_adjusted",
    "significant",
    "test",
    "correction",
]


def compare_systems(
    per_query: pd.DataFrame,
    baseline: str | Sequence[str],
    metric: str,
    test: Test | str = Test.RANDOMIZATION,
    correction: Correction | str = Correction.HOLM,
    alpha: float = 0.05,
    *,
    systems: Sequence[str] | None = None,
    n_permutations: int = 100_000,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: SeedLike = 0,
) -> pd.DataFrame:
    """Test every system against every baseline on one dataset and one metric; one row per (baseline, system).

    ``per_query`` is long format with columns ``system, query_id, value`` (an extra ``metric`` column is filtered
    to ``metric``). Systems are compared on the same queries, so their query sets must be identical. ``systems``
    defaults to every system that is not a baseline. Differences are ``system - baseline`` (positive = system
    better); ``ci_low``/``ci_high`` are a percentile bootstrap CI of ``mean_diff`` at ``confidence``,
    ``effect_size`` is Cohen's d_z, ``mde`` the minimum detectable effect at 80 % power and ``alpha`` (uncorrected;
    paired t approximation, :func:`minimum_detectable_effect`). ``p_adjusted``/``significant`` are corrected across
    all rows of this table; use :func:`correct_table` on a concatenation to correct across datasets and metrics too.

    Each row depends only on its own pair and ``seed`` (not on which other systems are in the table).
    """
    test_key = Test.parse(test)
    correction_key = Correction.parse(correction)
    baselines = [baseline] if isinstance(baseline, str) else list(baseline)
    if not baselines:
        raise ValueError("no baseline given")
    if len(set(baselines)) != len(baselines):
        raise ValueError(f"baseline listed twice: {baselines}")

    scores = _score_matrix(per_query, metric)
    known = list(scores.columns)
    if systems is None:
        compared = [s for s in known if s not in baselines]
    else:
        compared = list(dict.fromkeys(systems))
        clash = [s for s in compared if s in baselines]
        if clash:
            raise ValueError(f"systems {clash} are also baselines; a system cannot be compared with itself")
    missing = [s for s in [*baselines, *compared] if s not in known]
    if missing:
        raise ValueError(f"systems {missing} have no per-query scores for metric {metric!r}; known: {known}")
    scores = _aligned(scores[[*baselines, *compared]])

    rows = []
    for base_name in baselines:
        base = scores[base_name].to_numpy()
        others = scores[compared].to_numpy().T if compared else np.empty((0, base.size))
        if test_key is Test.RANDOMIZATION:
            results = randomization_test_many(base, others, n_permutations, seed) if compared else []
        else:
            results = [_PAIRED_TESTS[test_key](row, base) for row in others]
        for name, row, res in zip(compared, others, results, strict=True):
            ci = bootstrap_ci(row, base, n_resamples, confidence, seed)
            rows.append(
                {
                    "baseline": base_name,
                    "system": name,
                    "metric": metric,
                    "n": res.n,
                    "mean_baseline": float(base.mean()),
                    "mean_system": float(row.mean()),
                    "mean_diff": res.mean_diff,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                    "effect_size": cohens_dz(row, base),
                    "mde": minimum_detectable_effect(row, base, alpha),
                    "statistic": res.statistic,
                    "p_value": res.p_value,
                    "p_adjusted": np.nan,
                    "significant": False,
                    "test": test_key.value,
                    "correction": correction_key.value,
                }
            )
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"n": "int64", "significant": "bool"})
    return correct_table(table, correction_key, alpha)


def correct_table(df: pd.DataFrame, method: Correction | str, alpha: float = 0.05) -> pd.DataFrame:
    """Recompute ``p_adjusted``/``significant`` over ALL rows of ``df`` (e.g. tables of several datasets and
    metrics concatenated), so a suite controls the error rate over every comparison it makes. Returns a copy."""
    for col in ("p_value",):
        if col not in df.columns:
            raise ValueError(f"comparison table has no {col!r} column; columns: {list(df.columns)}")
    key = Correction.parse(method)
    out = df.copy()
    result = correct(out["p_value"].to_numpy(dtype=np.float64), key, alpha)
    out["p_adjusted"] = result.p_adjusted
    out["significant"] = result.reject
    out["correction"] = key.value
    return out


def _score_matrix(per_query: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Long per-query scores -> one column per system, indexed by query_id (missing queries are NaN)."""
    if not isinstance(per_query, pd.DataFrame):
        raise ValueError(f"per_query must be a pandas DataFrame, got {type(per_query).__name__}")
    need = {"system", "query_id", "value"}
    if not need <= set(per_query.columns):
        raise ValueError(f"per_query needs columns {sorted(need)}, has {list(per_query.columns)}")
    df = per_query
    if "metric" in df.columns:
        df = df[df["metric"] == metric]
        if df.empty:
            raise ValueError(f"no per-query scores for metric {metric!r}")
    if "dataset" in df.columns and df["dataset"].nunique(dropna=False) > 1:
        raise ValueError(f"per_query mixes datasets {sorted(map(str, df['dataset'].unique()))}; compare one at a time")
    values = pd.to_numeric(df["value"], errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=np.float64))
    if bad.any():
        first = df[bad].iloc[0]
        raise ValueError(
            f"{int(bad.sum())} non-numeric/NaN/infinite score(s) for metric {metric!r} "
            f"(first: system {first['system']!r}, query {first['query_id']!r})"
        )
    dup = df.duplicated(["system", "query_id"])
    if dup.any():
        first = df[dup].iloc[0]
        raise ValueError(f"duplicate score for system {first['system']!r}, query {first['query_id']!r}")
    wide = df.assign(value=values).pivot(index="query_id", columns="system", values="value")
    wide.columns = list(wide.columns)
    return wide[list(pd.unique(df["system"]))]  # systems in order of first appearance


def _aligned(wide: pd.DataFrame) -> pd.DataFrame:
    """Inner join on query_id, refusing to silently drop queries: every system must have scored the same set."""
    present = wide.notna()
    if not present.all(axis=None):
        n_queries = len(wide)
        parts = []
        for system in wide.columns:
            lacking = wide.index[~present[system].to_numpy()]
            if len(lacking):
                parts.append(f"{system!r} lacks {len(lacking)} of {n_queries} (e.g. {lacking[0]!r})")
        detail = "; ".join(parts)
        raise ValueError(f"query sets differ between systems: {detail}; score every system on the same queries")
    try:  # fixed query order, so seeded resampling does not depend on the input's row order
        return wide.sort_index()
    except TypeError:  # mixed id types
        return wide.sort_index(key=lambda idx: idx.astype(str))
