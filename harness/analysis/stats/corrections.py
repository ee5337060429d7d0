"""Multiple-comparison corrections, delegated to statsmodels ``multipletests`` under our own method names."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from statsmodels.stats.multitest import multipletests

# our name -> statsmodels name; "none" leaves the p-values as they are
CORRECTIONS: dict[str, str | None] = {"none": None, "bonferroni": "bonferroni", "holm": "holm", "bh": "fdr_bh"}


class Correction(NamedTuple):
    p_adjusted: NDArray[np.float64]
    reject: NDArray[np.bool_]


def correction_method(method: str) -> str:
    """Canonical correction name (case-insensitive; ``fdr_bh`` accepted for ``bh``), or ValueError."""
    key = str(method).strip().lower()
    key = "bh" if key in {"fdr_bh", "benjamini-hochberg"} else key
    if key not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; choose one of {', '.join(CORRECTIONS)}")
    return key


def correct(pvalues: ArrayLike, method: str = "holm", alpha: float = 0.05) -> Correction:
    """Adjust a family of p-values and flag those significant at ``alpha``.

    ``bonferroni`` and ``holm`` control the family-wise error rate, ``bh`` (Benjamini-Hochberg) the false
    discovery rate; ``none`` returns the p-values unchanged with ``reject = p <= alpha``.
    """
    name = correction_method(method)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p-values must be a 1-D array, got shape {p.shape}")
    if not np.all((p >= 0.0) & (p <= 1.0)):  # also catches NaN
        raise ValueError("p-values must lie in [0, 1] (no NaN)")
    if p.size == 0:
        return Correction(np.empty(0), np.empty(0, dtype=bool))
    sm_method = CORRECTIONS[name]
    if sm_method is None:
        return Correction(p.copy(), p <= alpha)
    reject, p_adj, _, _ = multipletests(p, alpha=alpha, method=sm_method)
    return Correction(np.asarray(p_adj, dtype=np.float64), np.asarray(reject, dtype=bool))
