"""Training data from ir_datasets: a train split's queries and qrels, hard negatives mined from a first stage, and
teacher scores.

Every system (first stage, teachers) runs as a pipeline through the harness's own planner and runner on the training
split, so its run is a cached store entry like any suite's. The assembled examples are cached too, under
``RESULTS/train-data/<key>.json.gz``; the key covers the dataset's content, the runs' keys and the mining settings.

Batches are a pure function of (seed, micro-batch index): the query order is a seeded permutation per epoch and each
group's positive and negatives are drawn from a generator seeded by the group's position. Resuming at step N therefore
needs nothing but N.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.errors import HarnessError
from harness.core.hashing import digest_value
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.store import Store, atomic_write
from harness.suite.config import Pipeline, SystemSpec
from harness.suite.plan import make_system
from harness.suite.runner import run_stages
from harness.system import build_config, system_class
from harness.train.config import CANDIDATES, TrainConfig

log = logging.getLogger("irh")

DATA_VERSION = 1  # bump when the meaning of cached training data changes


@dataclass
class Example:
    qid: str
    positives: list[str]
    negatives: list[str]  # the mined pool, in first-stage rank order
    teacher: dict[str, float] = field(default_factory=dict)  # doc id → teacher score (positives and negatives)


@dataclass
class TrainingData:
    queries: dict[str, str]
    docs: dict[str, str]
    examples: list[Example]
    info: dict[str, Any]

    def save(self, path: Path) -> None:
        payload = {
            "queries": self.queries,
            "docs": self.docs,
            "examples": [asdict(e) for e in self.examples],
            "info": self.info,
        }
        data = json.dumps(payload, sort_keys=True).encode("utf-8")
        atomic_write(path, lambda tmp: tmp.write_bytes(gzip.compress(data, mtime=0)))

    @classmethod
    def load(cls, path: Path) -> TrainingData:
        payload = json.loads(gzip.decompress(path.read_bytes()))
        examples = [Example(**e) for e in payload["examples"]]
        return cls(payload["queries"], payload["docs"], examples, payload["info"])


# ---------------------------------------------------------------- running systems through the harness
def run_systems(dataset: DatasetRef, specs: list[SystemSpec], store: Store) -> dict[str, str]:
    """Run (or find stored) the systems (in dependency order) on the dataset: system name → run key."""
    keys = run_stages(Pipeline((dataset,), tuple(specs)), store)
    return {system: key for (_, system), key in keys.items()}


def training_dataset(config: TrainConfig, store: Store) -> DatasetRef:
    return DatasetRef("train", config.data.dataset, False, str(store.digests_dir))


def data_dir(store: Store) -> Path:
    return store.root / "train-data"


# ---------------------------------------------------------------- assembling the examples
def prepare(config: TrainConfig, store: Store) -> TrainingData:
    """Training examples for a config: cached, or mined (and teacher-scored) now."""
    dataset = training_dataset(config, store)
    teachers = config.data.teacher
    run_teachers = [t for t in teachers if t not in config.candidate_teachers]
    needed = config.closure([config.data.first_stage, *run_teachers])
    keys = run_systems(dataset, needed, store)
    d = config.data
    teacher_ids = {}
    for t in teachers:
        if t in config.candidate_teachers:
            spec = config.systems[t]
            teacher_ids[t] = {"reranks": "candidates", "fingerprint": make_system(spec, store).fingerprint(dataset)}
        else:
            teacher_ids[t] = {"run": keys[t]}
    key = digest_value(
        {
            "version": DATA_VERSION,
            "dataset": dataset.irds_id,
            "queries": dataset.digest("queries"),
            "qrels": dataset.digest("qrels"),
            "docs": dataset.digest("docs"),
            "first_stage": keys[d.first_stage],
            "ranks": list(d.ranks),
            "min_relevance": d.min_relevance,
            "max_queries": d.max_queries,
            "teachers": [[t, teacher_ids[t]] for t in teachers],
        }
    )
    path = data_dir(store) / f"{key}.json.gz"
    if path.exists():
        log.info("training data: cached (%s)", path)
        return TrainingData.load(path)

    examples, stats = mine(dataset, store.load_run(keys[d.first_stage]), d.ranks, d.min_relevance, d.max_queries)
    if not examples:
        raise HarnessError(f"no training examples: no query of {dataset.irds_id} has a positive and mined negatives")
    teacher_info = []
    if teachers:
        runs = {t: store.load_run(keys[t]) for t in run_teachers}
        if config.candidate_teachers:
            runs.update(_rerank_candidates(config, dataset, store, examples, key))
        floored = attach_teacher(examples, [runs[t] for t in teachers])
        for t, n in zip(teachers, floored, strict=True):
            spec = config.systems[t]
            mode = "reranks the training candidates" if t in config.candidate_teachers else "scores of its own run"
            teacher_info.append({"system": t, "kind": spec.kind, "mode": mode, "pairs_outside_run": n})
    queries = dataset.queries()
    doc_ids = sorted({doc for e in examples for doc in (*e.positives, *e.negatives)})
    docs = dataset.doc_texts(doc_ids)
    missing = [doc for doc in doc_ids if doc not in docs]
    if missing:
        raise HarnessError(f"{len(missing)} training document(s) have no text in {dataset.irds_id} (e.g. {missing[0]})")
    first = config.systems[d.first_stage]
    info = {
        "key": key,
        "dataset": dataset.irds_id,
        **stats,
        "first_stage": {"system": first.name, "kind": first.kind, "run": keys[d.first_stage]},
        "ranks": list(d.ranks),
        "teacher": teacher_info,
        "teacher_combination": "per-query z-normalised scores, averaged" if teachers else None,
    }
    data = TrainingData({e.qid: queries[e.qid] for e in examples}, docs, examples, info)
    data.save(path)
    log.info(
        "training data: %d queries, %d documents, %.1f negatives per query (%s)",
        len(examples),
        len(docs),
        stats["mean_negatives"],
        path,
    )
    return data


def mine(
    dataset: DatasetRef, run: Run, ranks: tuple[int, ...], min_relevance: int = 1, max_queries: int | None = None
) -> tuple[list[Example], dict[str, Any]]:
    """One example per training query with a positive: every judged positive, and as negatives the first stage's
    documents at ranks [first, last] that are not judged positive (judged non-relevant ones are kept)."""
    qrels = dataset.qrels()
    queries = dataset.queries()
    qids = sorted(q for q in qrels if q in queries and any(r >= min_relevance for r in qrels[q].values()))
    if max_queries is not None:
        qids = qids[:max_queries]
    first, last = ranks
    examples, no_negatives = [], 0
    for qid in qids:
        positives = sorted(doc for doc, rel in qrels[qid].items() if rel >= min_relevance)
        ranked = [doc for doc, _ in run.ranked(qid)[first - 1 : last]]
        judged_positive = set(positives)
        negatives = [doc for doc in ranked if doc not in judged_positive]
        if not negatives:
            no_negatives += 1
            continue
        examples.append(Example(qid, positives, negatives))
    stats = {
        "queries_with_positives": len(qids),
        "queries_without_negatives": no_negatives,
        "examples": len(examples),
        "mean_positives": float(np.mean([len(e.positives) for e in examples])) if examples else 0.0,
        "mean_negatives": float(np.mean([len(e.negatives) for e in examples])) if examples else 0.0,
    }
    return examples, stats


def attach_teacher(examples: list[Example], runs: list[Run]) -> list[int]:
    """Teacher score of every candidate (positives and negatives) of every example: each run's scores, z-normalised
    per query over the candidates, then averaged over runs. A candidate outside a run gets that run's lowest score for
    the query (0 if the run has none). Returns, per run, how many candidates were outside it."""
    floored = [0] * len(runs)
    for e in examples:
        candidates = [*e.positives, *e.negatives]
        total = np.zeros(len(candidates))
        for i, run in enumerate(runs):
            scores = run.scores.get(e.qid, {})
            floor = min(scores.values()) if scores else 0.0
            values = np.array([scores.get(doc, floor) for doc in candidates], dtype=np.float64)
            floored[i] += sum(doc not in scores for doc in candidates)
            total += z_normalise(values)
        e.teacher = {doc: float(v) for doc, v in zip(candidates, total / len(runs), strict=True)}
    return floored


def z_normalise(values: np.ndarray) -> np.ndarray:
    std = float(values.std())
    return (values - values.mean()) / std if std > 0 and math.isfinite(std) else np.zeros_like(values)


def _rerank_candidates(
    config: TrainConfig, dataset: DatasetRef, store: Store, examples: list[Example], key: str
) -> dict[str, Run]:
    """Run the reranker teachers over the training candidates (a run file of every positive and negative)."""
    candidates = Run({e.qid: {doc: float(-i) for i, doc in enumerate([*e.positives, *e.negatives])} for e in examples})
    path = data_dir(store) / f"candidates-{key}.trec.gz"  # write_trec writes gzip
    if not path.exists():
        atomic_write(path, lambda tmp: candidates.write_trec(tmp, tag="candidates"))
    run_file = system_class("run-file")
    spec = SystemSpec(
        CANDIDATES, "run-file", "retriever", build_config(run_file, {"paths": {"train": str(path)}}, CANDIDATES)
    )
    teachers = [config.systems[t] for t in config.candidate_teachers]
    keys = run_systems(dataset, [spec, *teachers], store)
    return {t: store.load_run(keys[t]) for t in config.candidate_teachers}


# ---------------------------------------------------------------- batches
@dataclass
class Batch:
    qids: list[str]
    queries: list[str]  # (B,)
    docs: list[list[str]]  # (B, 1 + negatives): the positive first
    doc_ids: list[list[str]]
    teacher: np.ndarray | None  # (B, 1 + negatives) or None


class GroupSampler:
    """Micro-batch ``index`` → B groups of (query, 1 positive, n negatives), a pure function of (seed, index)."""

    def __init__(self, data: TrainingData, negatives: int, batch_size: int, seed: int):
        self.data = data
        self.negatives = negatives
        self.batch_size = batch_size
        self.seed = seed
        self._orders: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, 0, epoch]).permutation(len(self.data.examples))}
        return self._orders[epoch]

    def batch(self, index: int) -> Batch:
        n = len(self.data.examples)
        qids, queries, docs, doc_ids, teacher = [], [], [], [], []
        for i in range(self.batch_size):
            position = index * self.batch_size + i
            epoch, offset = divmod(position, n)
            example = self.data.examples[int(self._order(epoch)[offset])]
            rng = np.random.default_rng([self.seed, 1, position])
            positive = example.positives[int(rng.integers(len(example.positives)))]
            pool = example.negatives
            picks = rng.choice(len(pool), size=self.negatives, replace=len(pool) < self.negatives)
            ids = [positive, *(pool[int(j)] for j in picks)]
            qids.append(example.qid)
            queries.append(self.data.queries[example.qid])
            doc_ids.append(ids)
            docs.append([self.data.docs[d] for d in ids])
            if example.teacher:
                teacher.append([example.teacher[d] for d in ids])
        return Batch(qids, queries, docs, doc_ids, np.array(teacher, dtype=np.float32) if teacher else None)
