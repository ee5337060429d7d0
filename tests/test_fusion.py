"""Fusion against hand-computed values, and as a suite stage over other systems' stored runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.core.run import Run
from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.run import run_suite
from systems.fusion import rrf, score_fusion

A = Run({"q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0}, "q2": {"x": 5.0}})
B = Run({"q1": {"d3": 0.9, "d4": 0.8, "d1": 0.7}, "q3": {"y": 1.0, "z": 1.0}})


def test_rrf_by_hand() -> None:
    fused = rrf([A, B], k=60)
    assert fused.scores["q1"] == pytest.approx(
        {"d1": 1 / 61 + 1 / 63, "d2": 1 / 62, "d3": 1 / 63 + 1 / 61, "d4": 1 / 62}
    )
    assert fused.scores["q2"] == pytest.approx({"x": 1 / 61})
    # tied scores are ranked as trec_eval ranks them: doc id descending, so z is rank 1 and y rank 2
    assert fused.scores["q3"] == pytest.approx({"z": 1 / 61, "y": 1 / 62})
    weighted = rrf([A, B], k=0, weights=(2.0, 1.0))
    assert weighted.scores["q1"] == pytest.approx({"d1": 2 + 1 / 3, "d2": 1.0, "d3": 2 / 3 + 1, "d4": 0.5})


def test_score_fusion_min_max_by_hand() -> None:
    fused = score_fusion([A, B], "min-max")
    # A: d1 1, d2 .5, d3 0 | B: d3 1, d4 .5, d1 0 | missing docs count 0
    assert fused.scores["q1"] == pytest.approx({"d1": 1.0, "d2": 0.5, "d3": 1.0, "d4": 0.5})
    weighted = score_fusion([A, B], "min-max", (2.0, 1.0))
    assert weighted.scores["q1"] == pytest.approx({"d1": 2.0, "d2": 1.0, "d3": 1.0, "d4": 0.5})
    assert fused.scores["q2"] == {"x": 1.0} and fused.scores["q3"] == {"y": 1.0, "z": 1.0}


def test_score_fusion_z_score_by_hand() -> None:
    fused = score_fusion([A, B], "z-score")
    z = math.sqrt(3 / 2)  # (3 − 2) / sqrt(2/3) for A; the same for B's spread
    # a document missing from a run gets that run's lowest z-score (−z)
    assert fused.scores["q1"] == pytest.approx({"d1": 0.0, "d2": -z, "d3": 0.0, "d4": -z})


def test_wrong_number_of_weights_is_an_error() -> None:
    with pytest.raises(HarnessError, match="2 weights given for 3 input runs"):
        rrf([A, B, A], weights=(1.0, 2.0))


SUITE = """
metrics = ["nDCG@10"]
[datasets.cranfield]
id = "cranfield"
[systems.a]
kind = "run-file"
paths = {{ cranfield = "a.run" }}
[systems.b]
kind = "run-file"
paths = {{ cranfield = "b.run" }}
[systems.fused]
kind = "{kind}"
inputs = ["a", "b"]
k = 3
"""


@pytest.mark.parametrize("kind", ["rrf", "score-fusion"])
def test_fusion_stage_fuses_stored_runs(irds_home: Path, tmp_path: Path, kind: str) -> None:
    (tmp_path / "a.run").write_text("1 Q0 184 1 3.0 a\n1 Q0 29 2 2.0 a\n1 Q0 31 3 1.0 a\n")
    (tmp_path / "b.run").write_text("1 Q0 31 1 0.9 b\n1 Q0 57 2 0.8 b\n1 Q0 184 3 0.7 b\n")
    (tmp_path / "s.toml").write_text(SUITE.format(kind=kind))
    store = Store(tmp_path / "results")
    outcomes = run_suite(load_suite(tmp_path / "s.toml", digest_dir=str(store.digests_dir)), results=store).outcomes
    fused = store.load_run(next(o.key for o in outcomes if o.label == "cranfield/fused"))
    expected = rrf if kind == "rrf" else score_fusion
    a, b = Run.read_trec(tmp_path / "a.run"), Run.read_trec(tmp_path / "b.run")
    want = expected([a, b]).top(3).scores
    assert fused.scores.keys() == want.keys() and fused.scores["1"] == pytest.approx(want["1"])
    assert fused.depth() == 3  # the stage's k cuts the fused ranking
