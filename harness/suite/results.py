"""Evaluate stored runs (cached per run × qrels × metrics) and assemble a suite's results table."""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field

import pandas as pd

import harness.core.evaluate as evaluate_module
import harness.core.measures as metrics_module
from harness.core.evaluate import EvalScope, aggregate, aggregate_frame, evaluate_per_query
from harness.core.hashing import digest_file, digest_value
from harness.core.measures import is_depth_limited
from harness.core.provenance import library_versions, now
from harness.store import STORE_FORMAT, Store
from harness.suite.config import Suite
from harness.suite.plan import Job

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
    missing: list[tuple[str, str]] = field(default_factory=list)  # planned but not in the store

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


def evaluate_jobs(suite: Suite, jobs: list[Job], store: Store) -> Results:
    """Evaluate every job whose run is stored; computes only evaluations not already cached."""
    frames, results = [], Results(pd.DataFrame())
    scopes: dict[str, tuple[EvalScope, dict[str, dict[str, int]]]] = {}
    evaluator = _evaluator_digest()
    for job in jobs:
        ds = job.dataset
        if job.skipped:
            results.skipped.append((ds.name, job.spec.name, job.skipped))
            continue
        if not store.has_run(job.key):
            results.missing.append((ds.name, job.spec.name))
            continue
        metrics = suite.metrics_for(ds.name)
        run_meta = store.meta("runs", job.key)
        store.checked_payload("runs", job.key)  # every number shown rests on a run whose bytes were checked
        # keyed by what the numbers depend on: the run's bytes (not its key: a re-computed run never meets a stale
        # evaluation), the judgments and topics, the measures and the evaluator's code
        eval_key = digest_value(
            {
                "format": STORE_FORMAT,
                "run_sha256": run_meta["sha256"],
                "qrels": ds.digest("qrels"),
                "queries": ds.digest("queries"),
                "metrics": list(metrics),
                "exclude_self_matches": ds.exclude_self_matches,
                "evaluator": evaluator,
            }
        )
        if ds.name not in scopes:
            qrels = ds.qrels()
            scopes[ds.name] = (EvalScope.of(ds.queries(), qrels), qrels)
        scope, qrels = scopes[ds.name]
        if store.has_eval(eval_key):
            per_query = store.load_eval(eval_key)
        else:
            run = store.load_run(job.key)
            per_query = evaluate_per_query(run, qrels, scope, metrics, ds.exclude_self_matches)
            store.save_eval(
                eval_key,
                per_query,
                {
                    "run": job.key,
                    "run_sha256": run_meta["sha256"],
                    "dataset": ds.irds_id,
                    "system": job.spec.name,
                    "metrics": list(metrics),
                    "means": aggregate(per_query),
                    "created": now(),
                    "versions": library_versions(),
                },
            )
        depth = run_meta["max_depth"]
        results.info[(ds.name, job.spec.name)] = {
            "run_key": job.key,
            "eval_key": eval_key,
            "depth": depth,
            "wall_seconds": run_meta.get("wall_seconds"),
            "index_seconds": run_meta.get("index_seconds"),  # None: stored before corpus work was timed
            "n_queries_run": run_meta.get("n_queries"),
            "depth_limited": [m for m in metrics if is_depth_limited(m, depth)],
        }
        results.datasets[ds.name] = {
            "irds_id": ds.irds_id,
            "judged_queries": len(scope.query_ids),
            "judgments": sum(len(qrels[q]) for q in scope.query_ids),
            "topics": scope.n_topics,
            "unjudged_dropped": scope.n_unjudged_dropped,
            "exclude_self_matches": ds.exclude_self_matches,
        }
        frames.append(per_query.assign(dataset=ds.name, system=job.spec.name))
    if frames:
        results.per_query = pd.concat(frames, ignore_index=True)[["dataset", "system", "query_id", "metric", "value"]]
    return results
