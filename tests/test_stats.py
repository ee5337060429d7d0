"""Statistics layer: agreement with scipy/statsmodels references, exactness of the randomization test, tables."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from harness.analysis.stats import (
    COLUMNS,
    bootstrap_ci,
    cohens_dz,
    compare_systems,
    correct,
    correct_table,
    paired_t_test,
    randomization_test,
    randomization_test_many,
    wilcoxon_test,
    win_tie_loss,
)


def _pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded score vectors: continuous, discrete with ties, with zero differences, small and large n."""
    rng = np.random.default_rng(12345)
    out = []
    for n in (5, 12, 30, 80, 500):
        a = rng.random(n)
        out.append((a, np.clip(a + rng.normal(0.03, 0.15, n), 0, 1)))
    for n in (10, 25, 60):  # P@10-like: multiples of 0.1 -> tied |d| and zero differences
        a = rng.integers(0, 11, n) / 10
        out.append((a, rng.integers(0, 11, n) / 10))
    a = rng.random(40)
    b = a.copy()
    b[:15] += rng.normal(0, 0.1, 15)  # 25 exact zero differences
    out.append((a, b))
    return out


# ---------------------------------------------------------------- t-test and Wilcoxon against scipy


@pytest.mark.parametrize(("a", "b"), _pairs())
def test_t_test_matches_scipy(a: np.ndarray, b: np.ndarray) -> None:
    ref = stats.ttest_rel(a, b)
    res = paired_t_test(a, b)
    assert res.p_value == pytest.approx(float(ref.pvalue), abs=1e-9)
    assert res.statistic == pytest.approx(float(ref.statistic), rel=1e-12)
    assert res.n == a.size
    assert res.mean_diff == pytest.approx(float(np.mean(a - b)))


@pytest.mark.parametrize(("a", "b"), _pairs())
def test_wilcoxon_matches_scipy(a: np.ndarray, b: np.ndarray) -> None:
    ref = stats.wilcoxon(a, b)
    res = wilcoxon_test(a, b)
    assert res.p_value == pytest.approx(float(ref.pvalue), abs=1e-9)
    assert res.statistic == pytest.approx(float(ref.statistic))


def test_all_zero_differences_give_p_one() -> None:
    a = np.array([0.2, 0.5, 0.5, 0.9])
    for fn in (paired_t_test, wilcoxon_test, randomization_test):
        res = fn(a, a.copy())
        assert res.p_value == 1.0
        assert res.mean_diff == 0.0
    assert randomization_test(np.r_[a, a, a, a, a, a], np.r_[a, a, a, a, a, a], 1000, exact=False).p_value == 1.0


@pytest.mark.parametrize("fn", [paired_t_test, wilcoxon_test, randomization_test, cohens_dz, bootstrap_ci])
def test_bad_input_raises_one_line_value_error(fn) -> None:
    with pytest.raises(ValueError, match="differ in length") as info:
        fn([0.1, 0.2, 0.3], [0.1, 0.2])
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="NaN"):
        fn([0.1, np.nan, 0.3], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="at least 2"):
        fn([0.1], [0.2])


# ---------------------------------------------------------------- randomization test


def _brute_force_p(a: np.ndarray, b: np.ndarray, decimals: int) -> Fraction:
    """Exact two-sided sign-flip p over all 2**n vectors, in integer arithmetic (ties decided exactly)."""
    d = [round((x - y) * 10**decimals) for x, y in zip(a, b, strict=True)]
    observed = abs(sum(d))
    hits = sum(abs(sum(s * v for s, v in zip(signs, d, strict=True))) >= observed
               for signs in itertools.product((-1, 1), repeat=len(d)))  # fmt: skip
    return Fraction(hits, 2 ** len(d))


@pytest.mark.parametrize("case", range(4))
def test_exact_enumeration_matches_brute_force(case: int) -> None:
    rng = np.random.default_rng(case)
    if case < 2:  # discrete scores: many permuted sums tie the observed one exactly
        a, b = rng.integers(0, 11, 8) / 10, rng.integers(0, 11, 8) / 10
        decimals = 1
    else:
        a, b = np.round(rng.random(8), 4), np.round(rng.random(8), 4)
        decimals = 4
    res = randomization_test(a, b)
    assert res.exact is True
    assert res.n_permutations == 2**8
    assert res.p_value == pytest.approx(float(_brute_force_p(a, b, decimals)), abs=1e-12)


@pytest.mark.parametrize("case", range(3))
def test_monte_carlo_within_three_standard_errors_of_exact(case: int) -> None:
    rng = np.random.default_rng(100 + case)
    a = rng.random(15)
    b = np.clip(a + rng.normal(0.05, 0.2, 15), 0, 1)
    exact = randomization_test(a, b)
    mc = randomization_test(a, b, n_permutations=100_000, seed=case, exact=False)
    assert exact.exact and not mc.exact and mc.n_permutations == 100_000
    se = np.sqrt(exact.p_value * (1 - exact.p_value) / 100_000)
    assert abs(mc.p_value - exact.p_value) <= 3 * se


def test_monte_carlo_is_seeded_and_block_size_independent() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.random(300), rng.random(300)
    first = randomization_test(a, b, 20_000, seed=3)
    assert randomization_test(a, b, 20_000, seed=3) == first
    assert randomization_test(a, b, 20_000, seed=3, block_size=777) == first
    assert randomization_test(a, b, 20_000, seed=4) != first
    # convention: (count + 1) / (N + 1)
    assert round(first.p_value * 20_001) == pytest.approx(first.p_value * 20_001, abs=1e-6)


def test_many_equals_one_at_a_time() -> None:
    rng = np.random.default_rng(11)
    for n in (12, 400):  # exact and Monte Carlo
        base = rng.random(n)
        others = np.clip(base + rng.normal(0.02, 0.2, (5, n)), 0, 1)
        others[2] = base  # a system identical to the baseline
        many = randomization_test_many(base, others, 30_000, seed=5)
        single = [randomization_test(row, base, 30_000, seed=5) for row in others]
        assert many == single
        assert many[2].p_value == 1.0


def test_randomization_agrees_with_t_test_on_large_sample() -> None:
    rng = np.random.default_rng(2)
    a = rng.random(500)
    b = np.clip(a + rng.normal(-0.02, 0.2, 500), 0, 1)
    assert randomization_test(a, b, 50_000).p_value == pytest.approx(paired_t_test(a, b).p_value, abs=0.01)


def test_randomization_many_shape_errors() -> None:
    with pytest.raises(ValueError, match="transpose"):
        randomization_test_many(np.zeros(5), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="n_permutations"):
        randomization_test(np.zeros(30), np.ones(30), n_permutations=0)


# ---------------------------------------------------------------- corrections


@pytest.mark.parametrize("size", [1, 2, 7, 50])
def test_corrections_match_statsmodels(size: int) -> None:
    rng = np.random.default_rng(size)
    p = rng.random(size) ** 3  # plenty of small p-values
    for ours, theirs in (("bonferroni", "bonferroni"), ("holm", "holm"), ("bh", "fdr_bh")):
        reject, p_adj, _, _ = multipletests(p, alpha=0.05, method=theirs)
        res = correct(p, ours, alpha=0.05)
        np.testing.assert_allclose(res.p_adjusted, p_adj, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(res.reject, reject)
    none = correct(p, "none", alpha=0.05)
    np.testing.assert_array_equal(none.p_adjusted, p)
    np.testing.assert_array_equal(none.reject, p <= 0.05)


def test_correction_input_errors() -> None:
    with pytest.raises(ValueError, match="unknown correction"):
        correct([0.1], "sidak-ish")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        correct([0.1, np.nan], "holm")
    assert correct([], "bh").p_adjusted.size == 0


# ---------------------------------------------------------------- effect size, CI, win/tie/loss


@pytest.mark.parametrize(("a", "b"), _pairs()[:4])
def test_bootstrap_ci_matches_scipy_paired_percentile(a: np.ndarray, b: np.ndarray) -> None:
    ci = bootstrap_ci(a, b, n_resamples=5_000, confidence=0.9, seed=42)
    ref = stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        paired=True,
        vectorized=True,
        method="percentile",
        n_resamples=5_000,
        confidence_level=0.9,
        rng=np.random.default_rng(42),
    ).confidence_interval
    assert ci.low <= np.mean(a - b) <= ci.high
    scale = np.std(a - b) / np.sqrt(a.size)
    assert ci.low == pytest.approx(ref.low, abs=0.05 * scale)
    assert ci.high == pytest.approx(ref.high, abs=0.05 * scale)
    assert bootstrap_ci(a, b, 5_000, 0.9, seed=42) == ci


def test_bootstrap_ci_width_shrinks_with_confidence() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random(200), rng.random(200)
    wide, narrow = bootstrap_ci(a, b, confidence=0.99), bootstrap_ci(a, b, confidence=0.8)
    assert wide.low < narrow.low < narrow.high < wide.high
    assert bootstrap_ci([0.5, 0.7, 0.2], [0.4, 0.6, 0.1]) == pytest.approx((0.1, 0.1))


def test_cohens_dz() -> None:
    a, b = np.array([0.5, 0.7, 0.9, 0.4]), np.array([0.4, 0.4, 0.8, 0.4])
    d = a - b
    assert cohens_dz(a, b) == pytest.approx(d.mean() / d.std(ddof=1))
    assert cohens_dz(a, a) == 0.0
    assert cohens_dz([1.0, 2.0], [0.0, 1.0]) == np.inf
    assert cohens_dz([0.0, 1.0], [1.0, 2.0]) == -np.inf


def test_win_tie_loss_with_tolerance() -> None:
    baseline = [0.50, 0.50, 0.50, 0.50, 0.50, 0.20]
    system = [0.60, 0.505, 0.50, 0.495, 0.30, 0.21]
    # differences: +0.1 win, +0.005 tie, 0 tie, -0.005 tie, -0.2 loss, +0.01 tie (not > 0.01)
    assert win_tie_loss(baseline, system, tie_tolerance=0.01) == {"wins": 1, "ties": 4, "losses": 1}
    assert win_tie_loss(baseline, system) == {"wins": 3, "ties": 1, "losses": 2}
    with pytest.raises(ValueError, match="tie_tolerance"):
        win_tie_loss(baseline, system, tie_tolerance=-1)


# ---------------------------------------------------------------- comparison tables


def _long(scores: dict[str, list[float]], qids: list[str] | None = None) -> pd.DataFrame:
    rows = []
    for system, values in scores.items():
        for i, v in enumerate(values):
            rows.append({"system": system, "query_id": (qids or [f"q{j}" for j in range(len(values))])[i], "value": v})
    return pd.DataFrame(rows)


def _scores() -> dict[str, list[float]]:
    rng = np.random.default_rng(9)
    base = rng.random(25)
    return {
        "bm25": list(base),
        "dense": list(np.clip(base + rng.normal(0.15, 0.1, 25), 0, 1)),
        "sparse": list(np.clip(base + rng.normal(0.0, 0.1, 25), 0, 1)),
        "hybrid": list(np.clip(base + rng.normal(0.2, 0.1, 25), 0, 1)),
    }


@pytest.mark.parametrize("test", ["ttest", "wilcoxon", "randomization"])
def test_compare_systems_table(test: str) -> None:
    scores = _scores()
    df = _long(scores).sample(frac=1.0, random_state=0)  # row order must not matter
    table = compare_systems(df, "bm25", "ndcg@10", test=test, correction="holm", alpha=0.05, n_permutations=20_000)
    assert list(table.columns) == COLUMNS
    assert list(table["system"]) == [s for s in pd.unique(df["system"]) if s != "bm25"]
    assert (table["baseline"] == "bm25").all() and (table["metric"] == "ndcg@10").all()
    assert (table["n"] == 25).all() and (table["test"] == test).all()
    dense = table.set_index("system").loc["dense"]
    assert dense["mean_diff"] == pytest.approx(np.mean(scores["dense"]) - np.mean(scores["bm25"]))
    assert dense["mean_system"] - dense["mean_baseline"] == pytest.approx(dense["mean_diff"])
    assert dense["ci_low"] <= dense["mean_diff"] <= dense["ci_high"]
    assert dense["effect_size"] == pytest.approx(cohens_dz(scores["dense"], scores["bm25"]))
    ref = {"ttest": paired_t_test, "wilcoxon": wilcoxon_test, "randomization": randomization_test}[test]
    extra = (20_000,) if test == "randomization" else ()  # same permutation count (and default seed) as the table
    assert dense["p_value"] == pytest.approx(ref(scores["dense"], scores["bm25"], *extra).p_value)
    reject, p_adj, _, _ = multipletests(table["p_value"], alpha=0.05, method="holm")
    np.testing.assert_allclose(table["p_adjusted"], p_adj)
    np.testing.assert_array_equal(table["significant"], reject)
    assert table.set_index("system").loc["hybrid", "significant"]


def test_compare_systems_several_baselines_corrects_across_all_rows() -> None:
    df = _long(_scores())
    table = compare_systems(df, ["bm25", "sparse"], "ndcg@10", "ttest", "bonferroni", 0.05)
    assert len(table) == 4  # 2 baselines x 2 non-baseline systems
    assert set(zip(table["baseline"], table["system"], strict=True)) == {
        ("bm25", "dense"), ("bm25", "hybrid"), ("sparse", "dense"), ("sparse", "hybrid"),
    }  # fmt: skip
    np.testing.assert_allclose(table["p_adjusted"], np.minimum(table["p_value"] * 4, 1.0))
    only = compare_systems(df, "bm25", "ndcg@10", "ttest", "none", 0.05, systems=["dense"])
    assert list(only["system"]) == ["dense"]
    assert only["p_adjusted"].iloc[0] == only["p_value"].iloc[0]


def test_correct_table_across_concatenated_tables() -> None:
    df = _long(_scores())
    t1 = compare_systems(df, "bm25", "ndcg@10", "ttest", "holm", 0.05)
    t2 = compare_systems(df.assign(value=df["value"] ** 2), "bm25", "map", "ttest", "holm", 0.05)
    both = correct_table(pd.concat([t1, t2], ignore_index=True), "bh", 0.05)
    reject, p_adj, _, _ = multipletests(both["p_value"], alpha=0.05, method="fdr_bh")
    np.testing.assert_allclose(both["p_adjusted"], p_adj)
    np.testing.assert_array_equal(both["significant"], reject)
    assert (both["correction"] == "bh").all()
    assert (t1["correction"] == "holm").all()  # inputs untouched


def test_compare_systems_alignment_and_input_errors() -> None:
    scores = _scores()
    df = _long(scores)
    short = df[~((df["system"] == "dense") & (df["query_id"] == "q3"))]
    with pytest.raises(ValueError, match="'dense' lacks 1 of 25") as info:
        compare_systems(short, "bm25", "ndcg@10", "ttest", "holm", 0.05)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="duplicate"):
        compare_systems(pd.concat([df, df.iloc[:1]]), "bm25", "ndcg@10", "ttest", "holm", 0.05)
    with pytest.raises(ValueError, match="NaN"):
        compare_systems(df.assign(value=df["value"].where(df.index != 5)), "bm25", "ndcg@10", "ttest", "holm", 0.05)
    with pytest.raises(ValueError, match="no per-query scores"):
        compare_systems(df, "tfidf", "ndcg@10", "ttest", "holm", 0.05)
    with pytest.raises(ValueError, match="unknown significance test"):
        compare_systems(df, "bm25", "ndcg@10", "sign-test", "holm", 0.05)
    with pytest.raises(ValueError, match="unknown correction"):
        compare_systems(df, "bm25", "ndcg@10", "ttest", "fdr", 0.05)
    # a metric column is filtered to the requested metric
    two = pd.concat([df.assign(metric="ndcg@10"), df.assign(metric="map", value=0.0)])
    table = compare_systems(two, "bm25", "ndcg@10", "ttest", "holm", 0.05)
    assert len(table) == 3 and table["p_value"].lt(1).all()
