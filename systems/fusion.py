"""Fusion of other systems' runs: reciprocal rank fusion and score-normalised linear combination.

Ranks and scores are read in trec_eval order (score descending, doc id descending), so a fused run means what the
input runs mean when evaluated. A document missing from an input run contributes nothing to RRF; for score fusion it
gets that run's lowest normalised score for the query (0 under min-max).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from harness.core.errors import HarnessError
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.system import Fusion, NonNegativeInt, StageResult, System


def check_weights(weights: tuple[float, ...] | None, inputs: tuple[str, ...]) -> None:
    if weights is not None and len(weights) != len(inputs):
        raise HarnessError(f"{len(weights)} weights for {len(inputs)} inputs", field="weights")


def _weights(weights: tuple[float, ...] | None, n: int) -> tuple[float, ...]:
    if weights is None:
        return (1.0,) * n
    if len(weights) != n:
        raise HarnessError(f"{len(weights)} weights given for {n} input runs")
    return weights


@dataclass(frozen=True)
class RRFConfig:
    rrf_k: NonNegativeInt = 60  # score = Σ weight / (rrf_k + rank), ranks from 1 (Cormack et al., 2009)
    weights: tuple[float, ...] | None = None  # one per input, in the order of `inputs`


class RRF(System, Fusion):
    kind = "rrf"
    Config = RRFConfig
    dataset_parts = ()  # reads only its input runs

    @classmethod
    def check_inputs(cls, config: RRFConfig, inputs: tuple[str, ...]) -> None:
        check_weights(config.weights, inputs)

    def fuse(self, dataset: DatasetRef, runs: list[Run]) -> StageResult:
        return StageResult(rrf(runs, self.config.rrf_k, self.config.weights))


def rrf(runs: list[Run], k: int = 60, weights: tuple[float, ...] | None = None) -> Run:
    w = _weights(weights, len(runs))
    fused: dict[str, dict[str, float]] = {}
    for run, weight in zip(runs, w, strict=True):
        for qid in run.scores:
            docs = fused.setdefault(qid, {})
            for rank, (did, _) in enumerate(run.ranked(qid), start=1):
                docs[did] = docs.get(did, 0.0) + weight / (k + rank)
    return Run(fused)


@dataclass(frozen=True)
class ScoreFusionConfig:
    normalization: Literal["min-max", "z-score", "none"] = "min-max"  # per query and run
    weights: tuple[float, ...] | None = None  # one per input, in the order of `inputs`


class ScoreFusion(System, Fusion):
    kind = "score-fusion"
    Config = ScoreFusionConfig
    dataset_parts = ()  # reads only its input runs

    @classmethod
    def check_inputs(cls, config: ScoreFusionConfig, inputs: tuple[str, ...]) -> None:
        check_weights(config.weights, inputs)

    def fuse(self, dataset: DatasetRef, runs: list[Run]) -> StageResult:
        return StageResult(score_fusion(runs, self.config.normalization, self.config.weights))


def normalize(scores: dict[str, float], method: str) -> dict[str, float]:
    if not scores or method == "none":
        return dict(scores)
    values = list(scores.values())
    if method == "min-max":
        lo, hi = min(values), max(values)
        # all scores equal: every document is as good as the best one
        return {d: (s - lo) / (hi - lo) if hi > lo else 1.0 for d, s in scores.items()}
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return {d: (s - mean) / std if std > 0 else 0.0 for d, s in scores.items()}


def score_fusion(runs: list[Run], method: str = "min-max", weights: tuple[float, ...] | None = None) -> Run:
    w = _weights(weights, len(runs))
    qids = sorted(set().union(*(r.scores for r in runs)))
    fused: dict[str, dict[str, float]] = {}
    for qid in qids:
        normalized = [normalize(r.scores.get(qid, {}), method) for r in runs]
        docs = set().union(*normalized)
        # a missing document gets the run's lowest normalised score (min-max: 0, even when all scores were equal)
        floors = [0.0 if method == "min-max" or not n else min(n.values()) for n in normalized]
        fused[qid] = {
            d: sum(weight * n.get(d, floor) for n, weight, floor in zip(normalized, w, floors, strict=True))
            for d in docs
        }
    return Run(fused)
