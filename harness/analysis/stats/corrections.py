"""Multiple-comparison corrections, delegated to statsmodels ``multipletests`` (harness.core.significance.Correction
names the method)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from statsmodels.stats.multitest import multipletests

from harness.core.significance import Correction


class Corrected(NamedTuple):
    p_adjusted: NDArray[np.float64]
    reject: NDArray[np.bool_]


def correct(pvalues: ArrayLike, method: Correction | str = Correction.HOLM, alpha: float = 0.05) -> Corrected:
    """Adjust a family of p-values and flag those significant at ``alpha``.

    ``bonferroni`` and ``holm`` control the family-wise error rate, ``bh`` (Benjamini-Hochberg) the false
    discovery rate; ``none`` returns the p-values unchanged with ``reject = p <= alpha``.
    """
    name = Correction.parse(method)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p-values must be a 1-D array, got shape {p.shape}")
    if not np.all((p >= 0.0) & (p <= 1.0)):  # also catches NaN
        raise ValueError("p-values must lie in [0, 1] (no NaN)")
    if p.size == 0:
        return Corrected(np.empty(0), np.empty(0, dtype=bool))
    sm_method = name.statsmodels_method
    if sm_method is None:
        return Corrected(p.copy(), p <= alpha)
    reject, p_adj, _, _ = multipletests(p, alpha=alpha, method=sm_method)
    return Corrected(np.asarray(p_adj, dtype=np.float64), np.asarray(reject, dtype=bool))
