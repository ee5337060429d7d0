"""Parametric and rank-based paired tests, delegated to scipy so the p-values are the reference ones.

Both wrappers turn the degenerate "every difference is zero" case into ``p = 1`` (no evidence of a difference)
instead of scipy's NaN, because a table of comparisons must not break when two systems tie on every query.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ._validation import as_pair
from .result import TestResult


def paired_t_test(a: ArrayLike, b: ArrayLike) -> TestResult:
    """Two-sided paired Student t-test of ``mean(a - b) == 0`` (``scipy.stats.ttest_rel``).

    If all differences are zero: statistic 0, p 1. If they are equal but non-zero the t statistic is infinite and
    p is 0, as in scipy.
    """
    a_arr, b_arr = as_pair(a, b)
    d = a_arr - b_arr
    mean_diff = float(d.mean())
    if not d.any():
        return TestResult("ttest", 0.0, 1.0, d.size, mean_diff)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "precision loss" when differences are (nearly) constant
        res = stats.ttest_rel(a_arr, b_arr)
    return TestResult("ttest", float(res.statistic), float(res.pvalue), d.size, mean_diff)


def wilcoxon_test(a: ArrayLike, b: ArrayLike) -> TestResult:
    """Two-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon`` defaults: zero differences dropped).

    scipy picks the exact distribution for small samples without ties and the normal approximation otherwise.
    All-zero differences give statistic 0 and p 1 rather than an error.
    """
    a_arr, b_arr = as_pair(a, b)
    d = a_arr - b_arr
    mean_diff = float(d.mean())
    if not d.any():
        return TestResult("wilcoxon", 0.0, 1.0, d.size, mean_diff)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.wilcoxon(a_arr, b_arr)
    p = float(res.pvalue)
    if np.isnan(p):  # defensive: scipy versions differ on degenerate inputs
        p = 1.0
    return TestResult("wilcoxon", float(res.statistic), p, d.size, mean_diff)
