"""BM25 speed: our BM25 system vs a bare pyserini batch_search on the same index and queries, side by side in one
process; plus evaluation time for every run. Writes results/perf/bm25.json (--out).

    IR_DATASETS_HOME=... python benchmarks/perf_bm25.py [--repeats 3] [--results results]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from harness.core.evaluate import EvalScope, evaluate_per_query
from harness.core.java import prepare_jvm
from harness.core.provenance import hardware, library_versions, now
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.store import Store
from harness.system import Context
from systems.bm25 import BM25, BM25Config

DATASETS = {"scifact": "beir/scifact/test", "arguana": "beir/arguana"}
K = 1000
THREADS = 2
METRICS = ["nDCG@10", "R@100", "R@1000", "RR@10", "AP@1000"]
DL_RUNS = Path(__file__).resolve().parents[2] / "shared" / "data" / "msmarco-passage" / "runs-rankllm"


def bare_batch_search(index: Path, queries: dict[str, str]) -> tuple[float, float, Run]:
    """pyserini as its docs show it: one batch_search over all queries; then the hits read into Python."""
    from pyserini.search.lucene import LuceneSearcher

    searcher = LuceneSearcher(str(index))
    searcher.set_bm25(0.9, 0.4)
    start = time.perf_counter()
    hits = searcher.batch_search(list(queries.values()), list(queries), k=K, threads=THREADS)
    searched = time.perf_counter() - start
    run = Run({q: {h.docid: float(h.score) for h in hs} for q, hs in hits.items()})
    read = time.perf_counter() - start
    searcher.close()
    return searched, read, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/perf/bm25.json")
    parser.add_argument("--results", default="results", help="store whose cached indexes to use")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args()
    prepare_jvm()
    store = Store(args.results)
    system = BM25(BM25Config(), Context(store.artifacts_dir, THREADS))
    report: dict = {"created": now(), "k": K, "threads": THREADS, "repeats": args.repeats, "datasets": {}}
    for name in args.datasets:
        ds = DatasetRef(name, DATASETS[name], digest_dir=str(store.digests_dir))
        index = system.index(ds)  # built once, outside the timing
        queries = ds.queries()
        ours, bare_search, bare_read = [], [], []
        # round 0 warms the JVM's JIT up and is discarded; the order alternates so load drift hits both sides alike
        for round_ in range(args.repeats + 1):
            for side in ("ours", "bare") if round_ % 2 == 0 else ("bare", "ours"):
                if side == "ours":
                    start = time.perf_counter()
                    our_run = system.retrieve(ds, K).run
                    seconds = time.perf_counter() - start
                    if round_:
                        ours.append(seconds)
                else:
                    searched, read, bare_run = bare_batch_search(index, queries)
                    if round_:
                        bare_search.append(searched)
                        bare_read.append(read)
        assert our_run.scores == bare_run.scores, "our BM25 and bare pyserini must return the same run"
        n = len(queries)
        entry = {
            "queries": n,
            "ours_seconds": statistics.median(ours),
            "bare_batch_search_seconds": statistics.median(bare_search),
            "bare_batch_search_and_read_hits_seconds": statistics.median(bare_read),
        }
        entry["ours_qps"] = n / entry["ours_seconds"]
        entry["bare_batch_search_qps"] = n / entry["bare_batch_search_seconds"]
        entry["bare_with_hits_read_qps"] = n / entry["bare_batch_search_and_read_hits_seconds"]
        entry["ratio_vs_bare_batch_search"] = entry["ours_qps"] / entry["bare_batch_search_qps"]
        entry["ratio_vs_bare_with_hits_read"] = entry["ours_qps"] / entry["bare_with_hits_read_qps"]
        report["datasets"][name] = entry
        print(name, json.dumps(entry, indent=1))

    # evaluation time: every BM25 run above and the twelve imported TREC DL runs
    eval_times = {}
    runs = [(DatasetRef(n, DATASETS[n]), system.retrieve(DatasetRef(n, DATASETS[n]), K).run) for n in args.datasets]
    for year, irds_id in (
        ("dl19", "msmarco-passage/trec-dl-2019/judged"),
        ("dl20", "msmarco-passage/trec-dl-2020/judged"),
    ):
        for f in sorted(DL_RUNS.glob(f"*.trec_results_{year}.txt")):
            runs.append((DatasetRef(year, irds_id), Run.read_trec(f)))
    total = 0.0
    for ds, run in runs:
        qrels = ds.qrels()
        scope = EvalScope.of(ds.queries(), qrels)
        start = time.perf_counter()
        evaluate_per_query(run, qrels, scope, METRICS, ds.exclude_self_matches)
        seconds = time.perf_counter() - start
        total += seconds
        eval_times[f"{ds.name}:{len(eval_times)}"] = {"pairs": run.n_pairs(), "seconds": seconds}
    report["evaluation"] = {"metrics": METRICS, "runs": len(runs), "total_seconds": total, "per_run": eval_times}
    report["versions"] = library_versions()
    report["hardware"] = hardware()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
