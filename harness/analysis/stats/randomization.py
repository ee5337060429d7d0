"""Fisher's paired randomization (sign-flip permutation) test on the mean difference, vectorised.

Under the null hypothesis the two systems are exchangeable on every query, so each per-query difference
``d_i = a_i - b_i`` is equally likely to have either sign. The test statistic is ``|mean(d)|``; its null
distribution comes from flipping signs: ``|mean(s * d)|`` for sign vectors ``s`` in {-1, +1}^n.

Implementation: sign vectors are drawn as random bits in blocks of ``B`` rows, and the permuted sums of all
systems are one matrix product ``bits (B x n) @ D (n x S)`` (``s.d = 2 bits.d - sum(d)``). A block of sign vectors
is shared by all systems compared with the same baseline, so testing ten systems costs little more than one.
float64 is used, not float32: it is already far faster than needed, and its rounding (~n * 1e-16 relative) stays
well below the tie tolerance, whereas float32 rounding (~1e-5 at n = 1000) would blur the exact ties that
discrete IR metrics (P@10, success@k) produce all the time.

p-value convention (two-sided):

* a permuted statistic counts as "at least as extreme" if ``|sum(s*d)| >= |sum(d)| - 1e-9 * sum(|d|)``; the
  tolerance, relative to the largest attainable statistic, makes float-equal sums count as ties;
* exact enumeration (all ``2**n`` sign vectors, the default when ``n <= 20``): ``p = count / 2**n``
  (the identity is one of them, so ``p >= 2**-n``);
* Monte Carlo: ``p = (count + 1) / (N + 1)`` over ``N`` random sign vectors — the observed assignment counted as
  one of the permutations, which keeps ``p > 0`` and the test valid (Phipson & Smyth, 2010).

Random bits come from ``Generator.bit_generator.random_raw``, consumed sequentially, so a seed gives the same
sign vectors whatever the block size, the number of systems, or whether the systems are tested together.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import as_matrix, as_pair, as_scores, positive_int
from .result import TestResult

EXACT_MAX_N = 20
"""Enumerate all 2**n sign vectors up to this many queries (about a million vectors)."""

EXACT_LIMIT_N = 24
"""Largest n for which ``exact=True`` is accepted (16.7 million sign vectors)."""

TIE_RTOL = 1e-9
"""Tie tolerance, relative to sum(|d|), the largest value the permuted |sum| can take."""

_BLOCK_ELEMENTS = 1 << 22  # 4M float64 entries = 32 MiB per sign block

SeedLike = int | np.random.Generator | None


def randomization_test(
    a: ArrayLike,
    b: ArrayLike,
    n_permutations: int = 100_000,
    seed: SeedLike = 0,
    *,
    exact: bool | None = None,
    block_size: int | None = None,
) -> TestResult:
    """Two-sided paired randomization test of ``a`` against ``b`` (see the module docstring for the p-value).

    ``exact=None`` enumerates all sign flips when ``n <= 20`` and samples ``n_permutations`` otherwise;
    ``True``/``False`` force either. ``block_size`` (rows of sign vectors per matrix product) only bounds memory.
    The reported statistic is the observed ``mean(a - b)``.
    """
    a_arr, b_arr = as_pair(a, b)
    return randomization_test_many(b_arr, a_arr[None, :], n_permutations, seed, exact=exact, block_size=block_size)[0]


def randomization_test_many(
    baseline: ArrayLike,
    others: ArrayLike,
    n_permutations: int = 100_000,
    seed: SeedLike = 0,
    *,
    exact: bool | None = None,
    block_size: int | None = None,
) -> list[TestResult]:
    """Randomization test of every row of ``others`` (n_systems x n) against ``baseline`` (n,).

    The same sign vectors are used for every system, so each result equals
    ``randomization_test(others[i], baseline, n_permutations, seed)``; ``mean_diff`` is ``mean(others[i] - baseline)``.
    """
    base = as_scores(baseline, "baseline")
    if base.size < 2:
        raise ValueError(f"need at least 2 paired queries, got {base.size}")
    mat = as_matrix(others, "others", base.size)
    n_permutations = positive_int(n_permutations, "n_permutations")
    n = base.size
    use_exact = n <= EXACT_MAX_N if exact is None else bool(exact)
    if use_exact and n > EXACT_LIMIT_N:
        raise ValueError(f"exact enumeration of 2**{n} sign vectors is infeasible; use exact=False")
    block = positive_int(block_size, "block_size") if block_size is not None else max(1, _BLOCK_ELEMENTS // n)

    rows_d = mat - base[None, :]  # (S, n)
    diffs = np.ascontiguousarray(rows_d.T)  # (n, S), the layout the matrix product wants
    if use_exact:
        total = 1 << n
        counts = _count_extreme(diffs, _all_bits(n, block))
        p_values = counts / total
    else:
        total = n_permutations
        counts = _count_extreme(diffs, _random_bits(n, n_permutations, block, _generator(seed)))
        p_values = (counts + 1) / (total + 1)

    means = [float(d.mean()) for d in rows_d]  # 1-D means: bit-identical to the single-system call
    return [
        TestResult("randomization", m, float(p), n, m, n_permutations=total, exact=use_exact)
        for m, p in zip(means, p_values, strict=True)
    ]


def _generator(seed: SeedLike) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _count_extreme(diffs: NDArray[np.float64], blocks: Iterator[NDArray[np.uint8]]) -> NDArray[np.int64]:
    """Per system, how many sign vectors give ``|sum(s*d)| >= |sum(d)|`` (up to the tie tolerance)."""
    total = diffs.sum(axis=0)  # (S,)
    threshold = np.abs(total) - TIE_RTOL * np.abs(diffs).sum(axis=0)
    counts = np.zeros(diffs.shape[1], dtype=np.int64)
    buf: NDArray[np.float64] | None = None
    for bits in blocks:
        if buf is None or buf.shape[0] < bits.shape[0]:
            buf = np.empty(bits.shape, dtype=np.float64)
        signs = buf[: bits.shape[0]]
        signs[...] = bits  # uint8 -> float64 into a reused buffer (fresh allocations page-fault)
        permuted = signs @ diffs  # (B, S) = bits . d
        permuted *= 2.0
        permuted -= total  # = s . d with s = 2 bits - 1
        counts += (np.abs(permuted) >= threshold).sum(axis=0)
    return counts


def _random_bits(n: int, n_rows: int, block_rows: int, rng: np.random.Generator) -> Iterator[NDArray[np.uint8]]:
    """``n_rows`` uniform random 0/1 vectors of length n, in blocks; each row uses ceil(n/64) raw 64-bit words."""
    words = -(-n // 64)
    bitgen = rng.bit_generator
    for start in range(0, n_rows, block_rows):
        b = min(block_rows, n_rows - start)
        raw = bitgen.random_raw(b * words).astype("<u8", copy=False)  # fixed byte order: same bits on any machine
        yield np.unpackbits(raw.view(np.uint8).reshape(b, words * 8), axis=1, count=n, bitorder="little")


def _all_bits(n: int, block_rows: int) -> Iterator[NDArray[np.uint8]]:
    """All 2**n 0/1 vectors of length n (row i holds the binary digits of i), in blocks."""
    shifts = np.arange(n, dtype=np.int64)
    total = 1 << n
    for start in range(0, total, block_rows):
        idx = np.arange(start, min(start + block_rows, total), dtype=np.int64)
        yield ((idx[:, None] >> shifts) & 1).astype(np.uint8)
