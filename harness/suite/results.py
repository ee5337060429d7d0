"""A suite's results, read from the store: the stages its manifest records, their runs, and evaluations (computed
and cached per run × judgments × measures only where not stored yet). Reading builds no system and reads no model."""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

import harness.core.evaluate as evaluate_module
import harness.core.measures as metrics_module
from harness.core.errors import HarnessError
from harness.core.evaluate import EvalScope, aggregate, aggregate_frame, evaluate_per_query
from harness.core.hashing import digest_file, digest_value
from harness.core.measures import is_depth_limited
from harness.core.provenance import library_versions, now
from harness.data.datasets import DatasetRef
from harness.store import STORE_FORMAT, Store
from harness.suite.config import Pipeline
from harness.suite.loading import missing_data_hint
from harness.suite.manifest import NOT_RUN, StageRecord, stages

if TYPE_CHECKING:
    from harness.suite.runner import JobOutcome

log = logging.getLogger("irh")


def _evaluator_digest() -> str:
    return digest_value([digest_file(inspect.getsourcefile(m)) for m in (evaluate_module, metrics_module)])


@dataclass
class Results:
    """A suite's numbers: per-query values (long), and per (dataset, system) facts the tables must show."""

    per_query: pd.DataFrame  # dataset, system, query_id, metric, value
    info: dict[tuple[str, str], dict] = field(default_factory=dict)  # run depth, wall time, depth-limited metrics
    datasets: dict[str, dict] = field(default_factory=dict)  # judged query count and unjudged queries dropped
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # dataset, system, reason
    missing: list[tuple[str, str]] = field(default_factory=list)  # in the suite, no stored run recorded
    missing_reasons: dict[tuple[str, str], str] = field(default_factory=dict)
    outcomes: list[JobOutcome] = field(default_factory=list)  # run_suite: what each job did (cached, computed, ...)

    def means(self) -> pd.DataFrame:
        """dataset, system, metric, value (mean over judged queries)."""
        if self.per_query.empty:
            return pd.DataFrame(columns=["dataset", "system", "metric", "value"])
        return aggregate_frame(self.per_query, ["dataset", "system"])  # mean, or sum for counts (NumRet)

    def nested(self) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = {}
        for row in self.means().itertuples(index=False):
            out.setdefault(row.dataset, {}).setdefault(row.system, {})[row.metric] = float(row.value)
        return out

    def missing_reason(self, dataset: str, system: str) -> str:
        return self.missing_reasons.get((dataset, system), NOT_RUN)

    def to_frame(self) -> pd.DataFrame:
        """The means, one row per (dataset, system), one column per metric."""
        means = self.means()
        if means.empty:
            return pd.DataFrame(columns=["dataset", "system"])
        wide = means.pivot_table(index=["dataset", "system"], columns="metric", values="value", sort=False)
        wide.columns.name = None
        return wide.reset_index()


def read_results(suite: Pipeline, store: Store, only: list[str] | None = None) -> Results:
    """The suite's results as ``irh run`` recorded them (``only``: DATASET/SYSTEM globs)."""
    results, frames = Results(pd.DataFrame()), []
    evaluator = _evaluator_digest()
    judgments: dict[str, tuple[dict, dict]] = {}  # per dataset, loaded only to evaluate what is not stored yet
    newest: dict[str, StageRecord] = {}
    found = list(stages(store, suite, only))
    for stage in found:  # the judgments a dataset is evaluated with: those of its most recently recorded stage
        rec = stage.record
        if rec is not None and (stage.dataset.name not in newest or rec.recorded > newest[stage.dataset.name].recorded):
            newest[stage.dataset.name] = rec
    for stage in found:
        ds, name, rec = stage.dataset, stage.spec.name, stage.record
        if stage.skipped:
            results.skipped.append((ds.name, name, stage.skipped))
            continue
        if rec is not None and _dataset_data(rec) != _dataset_data(newest[ds.name]):
            stage = type(stage)(ds, stage.spec, missing=f"recorded with other queries or judgments of {ds.name} "
                                "than the newest runs: `irh run` the suite")  # fmt: skip
        if stage.missing:
            results.missing.append((ds.name, name))
            results.missing_reasons[(ds.name, name)] = stage.missing
            continue
        per_query, eval_key, meta = _evaluation(suite, store, ds, rec, evaluator, judgments)
        depth = meta["max_depth"]
        metrics = suite.metrics_for(ds.name)
        results.info[(ds.name, name)] = {
            "run_key": rec.run_key,
            "eval_key": eval_key,
            "depth": depth,
            "wall_seconds": meta.get("wall_seconds"),
            "index_seconds": meta.get("index_seconds"),  # None: stored before corpus work was timed
            "n_queries_run": meta.get("n_queries"),
            "depth_limited": [m for m in metrics if is_depth_limited(m, depth)],
            "fingerprint": rec.fingerprint,
            "content_digests": rec.content_digests,
            "recorded": rec.recorded,
        }
        results.datasets[ds.name] = {
            "irds_id": ds.irds_id,
            **rec.scope,
            "exclude_self_matches": ds.exclude_self_matches,
        }
        frames.append(per_query.assign(dataset=ds.name, system=name))
    if frames:
        results.per_query = pd.concat(frames, ignore_index=True)[["dataset", "system", "query_id", "metric", "value"]]
    return results


def _dataset_data(rec: StageRecord) -> tuple[str | None, str | None]:
    return rec.data.get("queries"), rec.data.get("qrels")


def _evaluation(
    suite: Pipeline, store: Store, ds: DatasetRef, rec: StageRecord, evaluator: str, judgments: dict
) -> tuple[pd.DataFrame, str, dict]:
    """(per-query values, evaluation key, run sidecar): the stored evaluation, else evaluated now and stored."""
    metrics = suite.metrics_for(ds.name)
    run_meta = store.meta("runs", rec.run_key)
    store.checked_payload("runs", rec.run_key)  # every number shown rests on a run whose bytes were checked
    # keyed by what the numbers depend on: the run's bytes (not its key: a re-computed run never meets a stale
    # evaluation), the judgments and topics, the measures and the evaluator's code
    eval_key = digest_value(
        {
            "format": STORE_FORMAT,
            "run_sha256": run_meta["sha256"],
            "qrels": rec.data["qrels"],
            "queries": rec.data["queries"],
            "metrics": list(metrics),
            "exclude_self_matches": ds.exclude_self_matches,
            "evaluator": evaluator,
        }
    )
    if store.has_eval(eval_key):
        return store.load_eval(eval_key), eval_key, run_meta
    if ds.name not in judgments:
        judgments[ds.name] = _judgments(ds, rec)
    queries, qrels = judgments[ds.name]
    per_query = evaluate_per_query(
        store.load_run(rec.run_key), qrels, EvalScope.of(queries, qrels), metrics, ds.exclude_self_matches
    )
    store.save_eval(
        eval_key,
        per_query,
        {
            "run": rec.run_key,
            "run_sha256": run_meta["sha256"],
            "dataset": ds.irds_id,
            "system": rec.system,
            "metrics": list(metrics),
            "means": aggregate(per_query),
            "created": now(),
            "versions": library_versions(),
        },
    )
    return per_query, eval_key, run_meta


def _judgments(ds: DatasetRef, rec: StageRecord) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Queries and qrels for an evaluation not stored yet (new measures): the dataset's, if they are still the ones
    the run was recorded with."""
    for part in ("queries", "qrels"):
        availability = ds.availability(part)
        if not availability.local:
            raise HarnessError(
                f"cannot evaluate {ds.name}/{rec.system} with the suite's measures: {part} not available locally "
                f"({availability.describe()}); {missing_data_hint()}"
            )
        if ds.digest(part) != rec.data[part]:
            raise HarnessError(f"the {part} of {ds.name} changed since {rec.system} was run: `irh run` the suite")
    return ds.queries(), ds.qrels()
