"""Inverted-index retrieval over learned sparse vectors (SPLADE family): two interchangeable backends.

- ``scipy``: queries (CSR) × documents transposed (CSR, term → postings), blocked over queries, top-k per row;
- ``lucene``: an Anserini impact index (JsonVectorCollection, ``-impact -pretokenized``) searched with
  ``SimpleImpactSearcher``: score = Σ query weight × stored impact.

Both score with the same integer-quantised weights (``round(w × scale)``, Lucene impacts must be integers), so the two
return the same rankings; top-k keeps trec_eval's order (score descending, then doc id descending) at ties.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Lucene breaks ties by doc id ascending, trec_eval by doc id descending: fetch beyond k, then cut in trec order.
LUCENE_TIE_MARGIN = 100
JSONL_DOCS_PER_FILE = 50_000


@dataclass(frozen=True)
class SparseVectors:
    """Row-wise sparse vectors over a vocabulary (CSR arrays); row i belongs to ``ids[i]``."""

    ids: np.ndarray  # str
    indptr: np.ndarray  # int64, len(ids) + 1
    indices: np.ndarray  # int32 term ids, ascending within a row
    values: np.ndarray  # float32, > 0
    dim: int

    def __len__(self) -> int:
        return len(self.ids)

    def matrix(self):
        from scipy.sparse import csr_matrix

        return csr_matrix((self.values, self.indices, self.indptr), shape=(len(self.ids), self.dim))

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.indptr[i], self.indptr[i + 1]
        return self.indices[lo:hi], self.values[lo:hi]

    def quantized(self, scale: int | None) -> SparseVectors:
        """Weights as round(w × scale) (kept as float32: exact integers), zeros dropped; None keeps float weights."""
        if scale is None:
            return self
        q = np.rint(np.asarray(self.values, dtype=np.float64) * scale).astype(np.float32)
        keep = q > 0
        indptr = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])[np.asarray(self.indptr)]
        return SparseVectors(self.ids, indptr, np.asarray(self.indices)[keep], q[keep], self.dim)

    def mean_nnz(self) -> float:
        return float(len(self.values) / max(len(self.ids), 1))


def top_k_trec(scores: np.ndarray, cols: np.ndarray, id_rank: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best entries in trec_eval's order (score desc, then doc id desc; ``id_rank`` = rank of
    each doc id in ascending string order)."""
    if len(scores) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        candidates = np.flatnonzero(scores >= kth)  # every tie of the k-th score, so the tie-break decides
    else:
        candidates = np.arange(len(scores))
    order = np.lexsort((-id_rank[cols[candidates]], -scores[candidates]))
    return candidates[order[:k]]


def id_ranks(ids: np.ndarray) -> np.ndarray:
    rank = np.empty(len(ids), dtype=np.int64)
    rank[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    return rank


# ---------------------------------------------------------------- scipy backend
def search_scipy(queries: SparseVectors, docs: SparseVectors, k: int) -> dict[str, dict[str, float]]:
    """Exact sparse dot products through the inverted index (docs transposed to term → postings), blocked so a
    block's score matrix stays around 8M entries."""
    postings = docs.matrix().T.tocsr()  # vocab × docs
    q = queries.matrix()
    doc_ids = np.asarray(docs.ids)
    rank = id_ranks(doc_ids)
    block = int(min(max(8_000_000 // max(len(docs), 1), 1), 4096))
    out: dict[str, dict[str, float]] = {}
    for start in range(0, len(queries), block):
        scores = (q[start : start + block] @ postings).tocsr()
        scores.sort_indices()
        for row in range(scores.shape[0]):
            lo, hi = scores.indptr[row], scores.indptr[row + 1]
            values, cols = scores.data[lo:hi], scores.indices[lo:hi]
            keep = top_k_trec(values, cols, rank, k)
            out[str(queries.ids[start + row])] = dict(
                zip(doc_ids[cols[keep]].tolist(), values[keep].astype(np.float64).tolist(), strict=True)
            )
    return out


def brute_force(queries: SparseVectors, docs: SparseVectors, k: int) -> dict[str, dict[str, float]]:
    """Reference: dense query × dense document dot products (for tests and small samples only)."""
    q = queries.matrix().toarray().astype(np.float64)
    d = docs.matrix()
    step = 1000  # documents densified at a time (a dense corpus would not fit in memory)
    scores = np.hstack(
        [q @ d[i : i + step].toarray().astype(np.float64).T for i in range(0, len(docs), step)]
        or [np.zeros((len(queries), 0))]
    )
    doc_ids = np.asarray(docs.ids)
    rank = id_ranks(doc_ids)
    out = {}
    for i, qid in enumerate(queries.ids):
        cols = np.flatnonzero(scores[i] > 0)
        keep = top_k_trec(scores[i, cols], cols, rank, k)
        out[str(qid)] = dict(zip(doc_ids[cols[keep]].tolist(), scores[i, cols[keep]].tolist(), strict=True))
    return out


# ---------------------------------------------------------------- Lucene backend
def lucene_key(doc_cache_parts: dict, scale: int) -> str:
    from importlib.metadata import version

    from harness.core.hashing import digest_value
    from harness.store import STORE_FORMAT

    return digest_value({**doc_cache_parts, "quantize": scale, "pyserini": version("pyserini"), "store": STORE_FORMAT})


def lucene_index(docs: SparseVectors, root: Path, key: str, threads: int) -> Path:
    """An Anserini impact index of integer-weighted documents (terms are vocabulary ids), built once per key."""
    from harness.store import artefact_ready, build_artefact, temp_path

    final = root / key
    if artefact_ready(final, "SPLADE impact index"):
        return final
    from harness.core.java import prepare_jvm

    prepare_jvm()
    from pyserini.pyclass import autoclass

    root.mkdir(parents=True, exist_ok=True)
    source = temp_path(root / f"{key}-jsonl")  # the documents as Anserini reads them; not part of the index
    source.mkdir()

    def fill(tmp: Path) -> None:
        args = ["-collection", "JsonVectorCollection", "-input", str(source), "-index", str(tmp)]
        args += ["-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads)]
        args += ["-impact", "-pretokenized", "-optimize"]
        autoclass("io.anserini.index.IndexCollection").main(args)
        if not any(tmp.glob("segments_*")):
            from harness.core.errors import HarnessError

            raise HarnessError(f"Anserini did not build the impact index in {tmp}")

    try:
        _write_json_vectors(docs, source)
        build_artefact(final, fill)
    finally:
        shutil.rmtree(source, ignore_errors=True)
    return final


def _write_json_vectors(docs: SparseVectors, out: Path) -> None:
    lines: list[str] = []
    part = 0
    for i in range(len(docs)):
        terms, weights = docs.row(i)
        vector = {str(t): int(w) for t, w in zip(terms.tolist(), weights.tolist(), strict=True)}
        lines.append(json.dumps({"id": str(docs.ids[i]), "contents": "", "vector": vector}))
        if len(lines) == JSONL_DOCS_PER_FILE or i == len(docs) - 1:
            (out / f"part{part:05d}.jsonl").write_text("\n".join(lines) + "\n")
            lines, part = [], part + 1


def java_queries(queries: SparseVectors, rows: range) -> tuple[object, object]:
    """The rows as the (query weight maps, query ids) Java lists SimpleImpactSearcher.batch_search takes; the JVM
    must already be prepared."""
    from pyserini.pyclass import JArrayList, JHashMap, JInt

    jqueries, jqids = JArrayList(), JArrayList()
    for i in rows:
        terms, weights = queries.row(i)
        jquery = JHashMap()
        for t, w in zip(terms.tolist(), weights.tolist(), strict=True):
            jquery.put(str(t), JInt(int(w)))
        jqueries.add(jquery)
        jqids.add(str(queries.ids[i]))
    return jqueries, jqids


def search_lucene(index: Path, queries: SparseVectors, k: int, threads: int) -> dict[str, dict[str, float]]:
    from harness.core.java import prepare_jvm
    from harness.core.run import Run

    prepare_jvm()
    from pyserini.pyclass import autoclass

    searcher = autoclass("io.anserini.search.SimpleImpactSearcher")(str(index))
    out: dict[str, dict[str, float]] = {}
    try:
        chunk = 500  # bounds the hits held in the JVM at once
        for start in range(0, len(queries), chunk):
            jqueries, jqids = java_queries(queries, range(start, min(start + chunk, len(queries))))
            results = searcher.batch_search(jqueries, jqids, k + LUCENE_TIE_MARGIN, threads)
            for entry in results.entrySet().toArray():
                out[entry.getKey()] = {h.docid: float(h.score) for h in entry.getValue()}
    finally:
        searcher.close()
    for qid in map(str, queries.ids):
        out.setdefault(qid, {})
    return Run(out).top(k).scores
