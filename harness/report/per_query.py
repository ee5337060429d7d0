"""Per-query values of stored runs as ``irh show --per-query`` prints them: trec_eval ``-q`` text, JSON or CSV."""

from __future__ import annotations

import io
import json

import pandas as pd

from harness.core.evaluate import aggregate
from harness.core.measures import parse_metric


def format_trec_eval(per_query: pd.DataFrame, metric_order: dict[tuple[str, str], list[str]]) -> str:
    """One block per (dataset, system), each as ``trec_eval -q`` prints a run: ``measure\\tquery\\tvalue`` for every
    query (query ids in trec_eval's order, strcmp), then the ``all`` lines (``runid`` = DATASET/SYSTEM, then each
    measure's aggregate: the mean, or the sum for counts). ``metric_order``: the suite's measures per block."""
    blocks = []
    for (dataset, system), run in per_query.groupby(["dataset", "system"], sort=False):
        metrics = metric_order.get((dataset, system)) or list(dict.fromkeys(run["metric"]))
        values = {(r.query_id, r.metric): r.value for r in run.itertuples(index=False)}
        lines = [
            _line(metric, qid, values[(qid, metric)])
            for qid in sorted(set(run["query_id"]), key=lambda q: q.encode())
            for metric in metrics
            if (qid, metric) in values
        ]
        lines.append(_line("runid", "all", f"{dataset}/{system}"))
        means = aggregate(run)
        lines += [_line(metric, "all", means[metric]) for metric in metrics if metric in means]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _line(metric: str, qid: str, value: float | str) -> str:
    """trec_eval's ``%-22s\\t%s\\t%6.4f`` (counts as integers)."""
    if isinstance(value, str):
        text = value
    elif parse_metric(metric).NAME.startswith("Num"):
        text = str(round(value))
    else:
        text = f"{value:6.4f}"
    return f"{metric:<22}\t{qid}\t{text}"


def to_json(per_query: pd.DataFrame) -> str:
    """{dataset: {system: {query_id: {measure: value}}}}"""
    out: dict = {}
    for r in per_query.itertuples(index=False):
        out.setdefault(r.dataset, {}).setdefault(r.system, {}).setdefault(r.query_id, {})[r.metric] = float(r.value)
    return json.dumps(out, indent=1, sort_keys=True)


def to_csv(per_query: pd.DataFrame) -> str:
    """dataset,system,query_id,measure,value (full precision)."""
    buffer = io.StringIO()
    per_query.rename(columns={"metric": "measure"}).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()
