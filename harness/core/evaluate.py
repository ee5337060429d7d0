"""Per-query evaluation of a run against a dataset's qrels (trec_eval numbers; see harness.core.measures)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import ir_measures
import pandas as pd

from harness.core.measures import MetricRoute, routes
from harness.core.run import Run


@dataclass(frozen=True)
class EvalScope:
    """Which queries count, decided once per dataset and reported with every result."""

    query_ids: frozenset[str]  # queries that have judgments
    n_topics: int  # queries the dataset defines
    n_unjudged_dropped: int

    @classmethod
    def of(cls, queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> EvalScope:
        judged = frozenset(q for q in queries if q in qrels)
        return cls(judged, len(queries), len(queries) - len(judged))


def prepare_run(run: Run, scope: EvalScope, exclude_self_matches: bool) -> Run:
    """Restrict to judged queries and apply BEIR's self-match rule (drop doc id == query id)."""
    scores = {}
    for qid, docs in run.scores.items():
        if qid not in scope.query_ids:
            continue
        if exclude_self_matches and qid in docs:
            docs = {d: s for d, s in docs.items() if d != qid}
        scores[qid] = docs
    return Run(scores)


def evaluate_per_query(
    run: Run,
    qrels: dict[str, dict[str, int]],
    scope: EvalScope,
    metric_names: Sequence[str],
    exclude_self_matches: bool = False,
) -> pd.DataFrame:
    """Long table [query_id, metric, value] over every judged query.

    A judged query the run has no results for scores 0 on every measure, as with ``trec_eval -c``.
    """
    prepared = prepare_run(run, scope, exclude_self_matches)
    qrels = {q: r for q, r in qrels.items() if q in scope.query_ids}
    values: dict[tuple[str, str], float] = {}
    by_depth: dict[tuple[int | None, str], list[MetricRoute]] = defaultdict(list)
    for r in routes(metric_names):
        by_depth[(r.truncate_to, r.provider)].append(r)
    for (depth, provider), group in by_depth.items():
        run_scores = (prepared.top(depth) if depth else prepared).scores
        run_scores = {q: d for q, d in run_scores.items() if d}
        engine = ir_measures.pytrec_eval if provider == "pytrec_eval" else ir_measures
        names = {r.computed_as: str(r.measure) for r in group}
        for m in engine.iter_calc(list(names), qrels, run_scores):
            values[(m.query_id, names[m.measure])] = float(m.value)
    rows = [(qid, name, values.get((qid, name), 0.0)) for qid in sorted(scope.query_ids) for name in metric_names]
    return pd.DataFrame(rows, columns=["query_id", "metric", "value"])


def aggregate(per_query: pd.DataFrame) -> dict[str, float]:
    """Mean over queries for each metric (trec_eval's 'all' line)."""
    return {str(k): float(v) for k, v in per_query.groupby("metric", sort=False)["value"].mean().items()}
