"""SPLADE retrieval backends side by side: scipy sparse products vs Lucene impact index (pyserini/Anserini), on the
same quantised document and query vectors. Reports queries/s (search only; and search + query encoding, which is
timed once and shared), index build time, whether the two rankings are equal (and equal to brute-force dense dot
products on a sample), nDCG@10 of quantised vs float weights, and postings statistics. Writes
results/perf/splade.json (--out).

Document encodings come from the store's artifacts (--results): run the beir-local suite first, or this script encodes
the corpora itself (slow on CPU: minutes per corpus).

    IR_DATASETS_HOME=... python benchmarks/perf_splade.py [--results results] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from harness.core.evaluate import EvalScope, aggregate, evaluate_per_query
from harness.core.java import prepare_jvm
from harness.core.provenance import hardware, library_versions, now
from harness.core.run import Run
from harness.data.datasets import DatasetRef, default_excludes_self_matches
from harness.store import Store
from harness.system import Context
from systems import splade_index
from systems.splade import Splade, SpladeConfig

DATASETS = {"scifact": "beir/scifact/test", "arguana": "beir/arguana"}
K = 1000
THREADS = 2
SAMPLE = 50  # queries checked against brute-force dense dot products


def ndcg10(ds: DatasetRef, scores: dict) -> float:
    qrels = ds.qrels()
    per_query = evaluate_per_query(
        Run(scores), qrels, EvalScope.of(ds.queries(), qrels), ["nDCG@10"], ds.exclude_self_matches
    )
    return aggregate(per_query)["nDCG@10"]


def timed(fn, repeats: int) -> tuple[float, object]:
    seconds, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), out


def compare(a: dict, b: dict) -> dict:
    """Equal rankings per query: same documents in the same order with the same scores."""
    same = sum(list(Run(a).ranked(q)) == list(Run(b).ranked(q)) for q in a)
    return {"queries": len(a), "identical_rankings": same, "runs_equal": a == b}


def lucene_batch_search_only(index: Path, queries: splade_index.SparseVectors) -> float:
    """Seconds of the Java batch_search alone (queries built before, hits not read into Python)."""
    from pyserini.pyclass import autoclass

    searcher = autoclass("io.anserini.search.SimpleImpactSearcher")(str(index))
    jqueries, jqids = splade_index.java_queries(queries, range(len(queries)))
    start = time.perf_counter()
    searcher.batch_search(jqueries, jqids, K + splade_index.LUCENE_TIE_MARGIN, THREADS)
    seconds = time.perf_counter() - start
    searcher.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="results/perf/splade.json")
    parser.add_argument("--results", default="results", help="store whose cached encodings / indexes to use")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    prepare_jvm()
    store = Store(args.results)
    report: dict = {"created": now(), "k": K, "threads": THREADS, "repeats": args.repeats, "datasets": {}}
    for name, irds_id in DATASETS.items():
        ds = DatasetRef(name, irds_id, default_excludes_self_matches(irds_id), digest_dir=str(store.digests_dir))
        config = SpladeConfig()
        system = Splade(config, Context(store.artifacts_dir, THREADS))
        start = time.perf_counter()
        docs, computed = system.doc_vectors(ds)
        doc_seconds = time.perf_counter() - start
        queries = ds.queries()
        start = time.perf_counter()
        qvecs = system.encoder.encode(list(queries.values()), None, ids=list(queries))
        query_seconds = time.perf_counter() - start
        qd, qq = docs.quantized(config.quantize), qvecs.quantized(config.quantize)

        scipy_s, scipy_run = timed(lambda qq=qq, qd=qd: splade_index.search_scipy(qq, qd, K), args.repeats)
        # a fresh index every time, so the build is timed (the system's own cached index stays untouched)
        scratch = Path(tempfile.mkdtemp(prefix="perf-splade-"))
        start = time.perf_counter()
        index = splade_index.lucene_index(qd, scratch, "index", THREADS)
        build_seconds = time.perf_counter() - start
        lucene_s, lucene_run = timed(
            lambda index=index, qq=qq: splade_index.search_lucene(index, qq, K, THREADS), args.repeats
        )
        raw_s = statistics.median(lucene_batch_search_only(index, qq) for _ in range(args.repeats))
        sample_ids = qq.ids[:SAMPLE]
        sample = splade_index.SparseVectors(
            sample_ids, qq.indptr[: SAMPLE + 1], qq.indices[: qq.indptr[SAMPLE]], qq.values[: qq.indptr[SAMPLE]], qq.dim
        )
        brute = splade_index.brute_force(sample, qd, K)
        float_run = splade_index.search_scipy(qvecs, docs, K)

        n = len(queries)
        entry = {
            "docs": len(docs),
            "queries": n,
            "doc_encodings": "computed" if computed else "cached",
            "doc_seconds": doc_seconds,
            "query_encode_seconds": query_seconds,
            "query_encode_qps": n / query_seconds,
            "avg_postings_per_doc": qd.mean_nnz(),
            "avg_terms_per_query": qq.mean_nnz(),
            "avg_doc_terms_float": docs.mean_nnz(),
            "scipy_search_seconds": scipy_s,
            "scipy_search_qps": n / scipy_s,
            "lucene_index_seconds": build_seconds,
            "lucene_search_seconds": lucene_s,
            "lucene_search_qps": n / lucene_s,
            "lucene_batch_search_only_seconds": raw_s,  # Java time alone, hits not read into Python
            "lucene_batch_search_only_qps": n / raw_s,
            "scipy_vs_lucene": compare(scipy_run, lucene_run),
            "brute_force_sample": {
                "queries": len(brute),
                "scipy_equal": all(scipy_run[q] == r for q, r in brute.items()),
                "lucene_equal": all(lucene_run[q] == r for q, r in brute.items()),
            },
            "ndcg@10_quantized": ndcg10(ds, scipy_run),
            "ndcg@10_float": ndcg10(ds, float_run),
            # what a retrieve() costs once the documents are encoded: query encoding + search
            "retrieve_qps_scipy": n / (query_seconds + scipy_s),
            "retrieve_qps_lucene": n / (query_seconds + lucene_s),
        }
        report["datasets"][name] = entry
        shutil.rmtree(scratch, ignore_errors=True)
        print(name, json.dumps(entry, indent=1))
    report["versions"] = library_versions()
    report["hardware"] = hardware()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
