"""The Python API: evaluate run files, compare systems, run a suite. A notebook needs nothing else.

``evaluate`` and ``compare`` need no suite and no store: runs are TREC run files (``.gz`` too), DataFrames
(query_id, doc_id, score) or ``Run`` objects; judgments are a TREC qrels file, a DataFrame (query_id, doc_id,
relevance) or an ir_datasets id. ``run_suite`` is ``irh run``: it computes what the store does not hold yet and
returns the same numbers ``irh show`` prints.

    from harness.api import compare, evaluate, run_suite
    per_query = evaluate({"bm25": "bm25.trec", "mine": "mine.trec"}, "qrels.txt", ["nDCG@10", "AP"], per_query=True)
    compare(per_query, baselines="bm25", test="randomization", correction="holm").to_frame()
    run_suite("suites/smoke.toml").to_frame()
"""

from __future__ import annotations

from harness.analysis.comparison import Comparison, compare
from harness.core.evaluate import evaluate
from harness.core.loaders import load_qrels, load_run, load_topics
from harness.core.significance import Correction, Test
from harness.suite.results import Results
from harness.suite.run import run_suite

__all__ = [
    "Comparison",
    "Correction",
    "Results",
    "Test",
    "compare",
    "evaluate",
    "load_qrels",
    "load_run",
    "load_topics",
    "run_suite",
]
