"""A suite's results, read from the store: the stages its manifest records, their runs, and evaluations (computed
and cached per run × judgments × measures only where not stored yet). Reading builds no system and reads no model."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.core.errors import HarnessError
from harness.core.hashing import digest_file, digest_value
from harness.core.measures import evaluated_measures, is_depth_limited
from harness.core.provenance import library_versions, now
from harness.data.datasets import DatasetRef
from harness.store import STORE_FORMAT, Store
from harness.suite.config import Pipeline
from harness.suite.loading import missing_data_hint
from harness.suite.manifest import NOT_RUN, StageRecord, stages

if TYPE_CHECKING:  # pandas is loaded only when per-query values are asked for (irh show reads the stored means)
    import pandas as pd

    from harness.suite.runner import JobOutcome

log = logging.getLogger("irh")

COLUMNS = ["dataset", "system", "query_id", "metric", "value"]


def _evaluator_digest() -> str:
    """The evaluator's code, found without importing it (it loads pandas)."""
    modules = ("harness.core.evaluate", "harness.core.measures")
    return digest_value([digest_file(importlib.util.find_spec(m).origin) for m in modules])


class Results:
    """A suite's numbers: per-query values (long), and per (dataset, system) facts the tables must show.

    Read from the store, the means come from the stored evaluations' own aggregates (computed from the same per-query
    values when each was stored), and the per-query table is loaded only when asked for."""

    def __init__(
        self,
        per_query: pd.DataFrame | None = None,  # dataset, system, query_id, metric, value
        info: dict[tuple[str, str], dict] | None = None,  # run depth, wall time, depth-limited metrics
        datasets: dict[str, dict] | None = None,  # judged query count and unjudged queries dropped
        *,
        stored_means: dict[tuple[str, str], dict[str, float]] | None = None,  # (dataset, system) → metric → value
        load_per_query: Callable[[], pd.DataFrame] | None = None,
        condensed: bool = False,  # evaluated on condensed runs (unjudged documents removed)
    ) -> None:
        self._per_query, self._load_per_query = per_query, load_per_query
        self.info = info or {}
        self.datasets = datasets or {}
        self.stored_means = stored_means
        self.condensed = condensed
        self.skipped: list[tuple[str, str, str]] = []  # dataset, system, reason
        self.missing: list[tuple[str, str]] = []  # in the suite, no stored run recorded
        self.missing_reasons: dict[tuple[str, str], str] = {}
        self.outcomes: list[JobOutcome] = []  # run_suite: what each job did (cached, computed, ...)

    @property
    def per_query(self) -> pd.DataFrame:
        if self._per_query is None:
            import pandas as pd

            self._per_query = self._load_per_query() if self._load_per_query else pd.DataFrame(columns=COLUMNS)
        return self._per_query

    @per_query.setter
    def per_query(self, frame: pd.DataFrame) -> None:  # new values: the means follow them, not the stored ones
        self._per_query, self.stored_means = frame, None

    def means(self) -> pd.DataFrame:
        """dataset, system, metric, value (mean over judged queries; the sum for counts such as NumRet)."""
        import pandas as pd

        from harness.core.evaluate import aggregate_frame

        if self.stored_means is None:
            return aggregate_frame(self.per_query, ["dataset", "system"])
        rows = [(d, s, m, v) for (d, s), values in self.stored_means.items() for m, v in values.items()]
        return pd.DataFrame(rows, columns=["dataset", "system", "metric", "value"])

    def nested(self) -> dict[str, dict[str, dict[str, float]]]:
        out: dict[str, dict[str, dict[str, float]]] = {}
        if self.stored_means is not None:  # without pandas: what `irh show` prints
            for (d, s), values in self.stored_means.items():
                out.setdefault(d, {})[s] = {m: float(v) for m, v in values.items()}
            return out
        for row in self.means().itertuples(index=False):
            out.setdefault(row.dataset, {}).setdefault(row.system, {})[row.metric] = float(row.value)
        return out

    def missing_reason(self, dataset: str, system: str) -> str:
        return self.missing_reasons.get((dataset, system), NOT_RUN)

    def to_frame(self) -> pd.DataFrame:
        """The means, one row per (dataset, system), one column per metric."""
        import pandas as pd

        means = self.means()
        if means.empty:
            return pd.DataFrame(columns=["dataset", "system"])
        wide = means.pivot_table(index=["dataset", "system"], columns="metric", values="value", sort=False)
        wide.columns.name = None
        return wide.reset_index()


def read_results(suite: Pipeline, store: Store, only: list[str] | None = None, *, condensed: bool = False) -> Results:
    """The suite's results as ``irh run`` recorded them (``only``: DATASET/SYSTEM globs; ``condensed``: evaluated with
    each run's unjudged documents removed, stored as an evaluation of its own)."""
    evals: list[tuple[str, str, str]] = []  # dataset, system, evaluation key: the per-query tables, read on demand
    results = Results(stored_means={}, load_per_query=lambda: _per_query(store, evals), condensed=condensed)
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
        eval_key, meta, means = _evaluation(suite, store, ds, rec, evaluator, judgments, condensed)
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
        results.stored_means[(ds.name, name)] = means
        evals.append((ds.name, name, eval_key))
    return results


def _per_query(store: Store, evals: list[tuple[str, str, str]]) -> pd.DataFrame:
    import pandas as pd

    frames = [store.load_eval(key).assign(dataset=d, system=s) for d, s, key in evals]
    return pd.concat(frames, ignore_index=True)[COLUMNS] if frames else pd.DataFrame(columns=COLUMNS)


def _dataset_data(rec: StageRecord) -> tuple[str | None, str | None]:
    return rec.data.get("queries"), rec.data.get("qrels")


def _evaluation(
    suite: Pipeline, store: Store, ds: DatasetRef, rec: StageRecord, evaluator: str, judgments: dict, condensed: bool
) -> tuple[str, dict, dict[str, float]]:
    """(evaluation key, run sidecar, each measure's aggregate in the suite's order): the stored evaluation, else
    evaluated now and stored."""
    metrics = evaluated_measures(suite.metrics_for(ds.name))  # with the diagnostics (Judged@10)
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
            **({"condensed": True} if condensed else {}),
        }
    )
    if store.has_eval(eval_key):
        store.checked_payload("evals", eval_key)  # the stored means stand for these per-query values
        stored = store.meta("evals", eval_key)["means"]
        return eval_key, run_meta, {m: stored[m] for m in metrics if m in stored}
    from harness.core.evaluate import EvalScope, aggregate, evaluate_per_query  # pandas: only to evaluate

    if ds.name not in judgments:
        judgments[ds.name] = _judgments(ds, rec)
    queries, qrels = judgments[ds.name]
    per_query = evaluate_per_query(
        store.load_run(rec.run_key), qrels, EvalScope.of(queries, qrels), metrics, ds.exclude_self_matches, condensed
    )
    means = aggregate(per_query)
    store.save_eval(
        eval_key,
        per_query,
        {
            "run": rec.run_key,
            "run_sha256": run_meta["sha256"],
            "dataset": ds.irds_id,
            "system": rec.system,
            "metrics": list(metrics),
            "condensed": condensed,
            "means": means,
            "created": now(),
            "versions": library_versions(),
        },
    )
    return eval_key, run_meta, {m: means[m] for m in metrics if m in means}


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
