"""How large a difference is, not only whether it is significant: effect size, bootstrap CI, win/tie/loss."""

from __future__ import annotations

import inspect
import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ._validation import as_pair, positive_int
from .randomization import SeedLike, _generator

_BOOTSTRAP_ELEMENTS = 1 << 21  # resampled values held at once by scipy's bootstrap (x 16 bytes with indices)
_SCIPY_TAKES_RNG = "rng" in inspect.signature(stats.bootstrap).parameters  # scipy >= 1.15 renamed random_state


class ConfidenceInterval(NamedTuple):
    low: float
    high: float


def cohens_dz(a: ArrayLike, b: ArrayLike) -> float:
    """Cohen's d_z for paired data: ``mean(d) / std(d, ddof=1)`` with ``d = a - b``.

    Scale-free, so comparable across metrics. If the differences do not vary the ratio is undefined: 0 when they
    are all zero, and ``+inf``/``-inf`` (the sign of the mean) when they are a constant non-zero value.
    """
    a_arr, b_arr = as_pair(a, b)
    d = a_arr - b_arr
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / sd


def minimum_detectable_effect(a: ArrayLike, b: ArrayLike, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest mean difference a two-sided paired test at ``alpha`` would detect with probability ``power``, given
    the observed spread of the per-query differences ``d = a - b`` and their number n (paired t approximation):

        MDE = (t_{1-alpha/2, n-1} + t_{power, n-1}) * sd(d) / sqrt(n),   sd with ddof = 1

    (the central-t approximation of the noncentral t power calculation). NaN for fewer than 2 queries."""
    a_arr, b_arr = as_pair(a, b)
    if not (0.0 < alpha < 1.0 and 0.0 < power < 1.0):
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha}, {power}")
    n = a_arr.size
    if n < 2:
        return math.nan
    df = n - 1
    sd = float((a_arr - b_arr).std(ddof=1))
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * sd / math.sqrt(n))


def bootstrap_ci(
    a: ArrayLike,
    b: ArrayLike,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: SeedLike = 0,
) -> ConfidenceInterval:
    """Percentile bootstrap confidence interval of ``mean(a - b)``, resampling queries (pairs stay together).

    Delegates to ``scipy.stats.bootstrap`` (percentile method) on the per-query differences — resampling the
    differences is the same as resampling pairs — in batches so memory stays bounded for large query sets.
    """
    a_arr, b_arr = as_pair(a, b)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n_resamples = positive_int(n_resamples, "n_resamples")
    d = a_arr - b_arr
    if np.all(d == d[0]):  # every resample has the same mean; skip scipy's degenerate-data warning
        return ConfidenceInterval(float(d[0]), float(d[0]))
    rng_kw = "rng" if _SCIPY_TAKES_RNG else "random_state"
    res = stats.bootstrap(
        (d,),
        np.mean,
        n_resamples=n_resamples,
        batch=max(1, _BOOTSTRAP_ELEMENTS // d.size),
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        **{rng_kw: _generator(seed)},
    )
    return ConfidenceInterval(float(res.confidence_interval.low), float(res.confidence_interval.high))


def outcome(delta: ArrayLike, tie_tolerance: float = 0.0) -> np.ndarray:
    """The win/tie/loss rule, per query from the system's point of view: ``"win"`` where ``delta = system - baseline
    > tie_tolerance``, ``"loss"`` where ``delta < -tie_tolerance``, ``"tie"`` otherwise."""
    if not (tie_tolerance >= 0.0 and math.isfinite(tie_tolerance)):
        raise ValueError(f"tie_tolerance must be a finite number >= 0, got {tie_tolerance}")
    d = np.asarray(delta, dtype=float)
    return np.where(d > tie_tolerance, "win", np.where(d < -tie_tolerance, "loss", "tie"))


def win_tie_loss(baseline_scores: ArrayLike, system_scores: ArrayLike, tie_tolerance: float = 0.0) -> dict[str, int]:
    """Per-query tally of :func:`outcome` from the system's point of view."""
    base, system = as_pair(baseline_scores, system_scores, min_n=0)
    kinds = outcome(system - base, tie_tolerance)
    return {
        "wins": int((kinds == "win").sum()),
        "ties": int((kinds == "tie").sum()),
        "losses": int((kinds == "loss").sum()),
    }
