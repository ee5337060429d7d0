"""Input checks shared by the tests: fail early with one clear line instead of a NaN p-value later."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_scores(x: ArrayLike, name: str) -> NDArray[np.float64]:
    """``x`` as a finite 1-D float64 array, or ValueError naming ``name``."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: per-query scores must be numeric ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of per-query scores, got shape {arr.shape}")
    _check_finite(arr, name)
    return arr


def _check_finite(arr: NDArray[np.float64], name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape))
        where = first[0] if len(first) == 1 else first
        count = int(bad.sum())
        raise ValueError(f"{name}: {count} NaN/infinite score(s) (first at index {where}); scores must be finite")


def as_pair(a: ArrayLike, b: ArrayLike, *, min_n: int = 2) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Aligned per-query scores of two systems; at least ``min_n`` queries (a paired test needs two)."""
    a_arr = as_scores(a, "a")
    b_arr = as_scores(b, "b")
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"paired scores differ in length: a has {a_arr.size} queries, b has {b_arr.size}")
    if a_arr.size < min_n:
        raise ValueError(f"need at least {min_n} paired queries, got {a_arr.size}")
    return a_arr, b_arr


def as_matrix(x: ArrayLike, name: str, n: int) -> NDArray[np.float64]:
    """Scores of several systems as a finite (systems x n) float64 array; a 1-D input is one system."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: per-query scores must be numeric ({exc})") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n:
        hint = " (transpose it: rows are systems)" if arr.ndim == 2 and arr.shape[0] == n else ""
        raise ValueError(f"{name}: expected shape (n_systems, {n}), got {arr.shape}{hint}")
    _check_finite(arr, name)
    return arr


def positive_int(value: object, name: str) -> int:
    """``value`` as an int >= 1 (integral floats accepted), or ValueError naming ``name``."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not float(value).is_integer() or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
