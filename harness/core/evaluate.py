"""Per-query evaluation of a run against a dataset's qrels (trec_eval numbers; see harness.core.measures)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ir_measures
import pandas as pd

from harness.core.loaders import QrelsLike, RunLike, load_qrels, load_run
from harness.core.measures import (
    Measure,
    MetricRoute,
    aggregate_values,
    empty_ranking_value,
    label,
    parse_metrics,
    routes,
)
from harness.core.run import Run

COLUMNS = ["query_id", "metric", "value"]


@dataclass(frozen=True)
class EvalScope:
    """Which queries count, decided once per dataset and reported with every result."""

    query_ids: frozenset[str]  # queries that have judgments
    n_topics: int  # queries the dataset defines
    n_unjudged_dropped: int

    @classmethod
    def of(cls, queries: Mapping[str, str] | Sequence[str], qrels: Mapping[str, Mapping[str, int]]) -> EvalScope:
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


def condense(run: Run, qrels: Mapping[str, Mapping[str, int]]) -> Run:
    """The condensed run (Sakai 2007): each ranking without the documents that have no judgment for its query, the
    others in their order. Its measures count judged documents only: an unjudged one is not taken as non-relevant."""
    return Run({q: {d: s for d, s in docs.items() if d in qrels.get(q, {})} for q, docs in run.scores.items()})


def evaluate_per_query(
    run: Run,
    qrels: Mapping[str, Mapping[str, int]],
    scope: EvalScope,
    measures: Sequence[str | Measure],
    exclude_self_matches: bool = False,
    condensed: bool = False,
) -> pd.DataFrame:
    """Long table [query_id, metric, value] over every judged query; ``metric`` is each measure's canonical label.

    A judged query the run has no results for counts as with ``trec_eval -c``: 0 on every measure of the ranking, but
    NumQ 1 and NumRel its number of relevant documents. ``condensed``: evaluate the condensed run (``condense``).
    """
    prepared = prepare_run(run, scope, exclude_self_matches)
    if condensed:
        prepared = condense(prepared, qrels)
    qrels = {q: r for q, r in qrels.items() if q in scope.query_ids}
    values: dict[tuple[str, str], float] = {}
    by_depth: dict[tuple[int | None, str], list[MetricRoute]] = defaultdict(list)
    measure_routes = routes(measures)
    for r in measure_routes:
        by_depth[(r.truncate_to, r.provider)].append(r)
    for (depth, provider), group in by_depth.items():
        if provider == "qrels":  # measures of the judgments alone: their value for an empty ranking is the value
            continue
        run_scores = (prepared.top(depth) if depth else prepared).scores
        run_scores = {q: d for q, d in run_scores.items() if d}
        engine = ir_measures.pytrec_eval if provider == "pytrec_eval" else ir_measures
        labels = {r.computed_as: label(r.measure) for r in group}
        for m in engine.iter_calc(list(labels), qrels, run_scores):
            if m.query_id in run_scores:  # some providers also report queries the run lacks, as 0 even for NumRel
                values[(m.query_id, labels[m.measure])] = float(m.value)
    labelled = [(label(r.measure), r.measure) for r in measure_routes]
    rows = []
    for qid in sorted(scope.query_ids):
        for name, measure in labelled:
            value = values.get((qid, name))
            rows.append((qid, name, empty_ranking_value(measure, qrels[qid]) if value is None else value))
    return pd.DataFrame(rows, columns=COLUMNS)


def aggregate(per_query: pd.DataFrame) -> dict[str, float]:
    """Each measure's aggregate over queries (trec_eval's 'all' line): the mean, or the sum for counts (NumRet)."""
    return {
        str(name): aggregate_values(parse_metrics([name])[0], group.tolist())
        for name, group in per_query.groupby("metric", sort=False)["value"]
    }


def aggregate_frame(per_query: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """``aggregate`` for every group of ``by`` columns (e.g. dataset, system): columns [*by, metric, value]."""
    if per_query.empty:
        return pd.DataFrame(columns=[*by, "metric", "value"])
    rows = [
        (*keys, metric, value)
        for keys, group in per_query.groupby(list(by), sort=False)
        for metric, value in aggregate(group).items()
    ]
    return pd.DataFrame(rows, columns=[*by, "metric", "value"])


def evaluate(
    runs: Mapping[str, RunLike] | RunLike,
    qrels: QrelsLike,
    measures: Sequence[str | Measure],
    *,
    per_query: bool = False,
    exclude_self_matches: bool = False,
    condensed: bool = False,
) -> pd.DataFrame:
    """Evaluate runs with the harness's semantics (trec_eval's code and tie order, ``-c``, judged queries only).

    ``runs``: one run or a mapping system name → run, each a TREC run file path (``.gz`` too), a DataFrame with
    query_id/doc_id/score, or a Run; ``qrels``: a TREC qrels path, a DataFrame with query_id/doc_id/relevance, or an
    ir_datasets id. Returns a tidy DataFrame [system, (query_id,) measure, value]: per query, or each measure's
    aggregate over the judged queries (mean, or sum for counts). A single run is named ``run``.
    ``exclude_self_matches``: BEIR's rule for ArguAna and Quora (a retrieved doc whose id is the query id is ignored).
    ``condensed``: evaluate each run with its unjudged documents removed (``condense``).
    """
    judgments = load_qrels(qrels)
    named = dict(runs) if isinstance(runs, Mapping) else {"run": runs}
    scope = EvalScope.of(list(judgments), judgments)
    frames = []
    for system, run_like in named.items():
        run = load_run(run_like)
        table = evaluate_per_query(run, judgments, scope, measures, exclude_self_matches, condensed)
        table = table.assign(system=system)
        frames.append(table if per_query else aggregate_frame(table, ["system"]))
    out = pd.concat(frames, ignore_index=True).rename(columns={"metric": "measure"})
    columns = ["system", "query_id", "measure", "value"] if per_query else ["system", "measure", "value"]
    return out[columns]
