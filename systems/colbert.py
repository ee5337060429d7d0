"""ColBERT (v2-style) late interaction on plain torch: per-token embeddings and MaxSim.

Two kinds share one encoder and one on-disk cache of corpus token embeddings (fp16, per model digest + corpus digest
+ encoding settings):

- ``colbert`` (Retriever): full retrieval through a compressed PLAID-style index (``systems.colbert_index``):
  k-means centroids + 1/2-bit residuals, centroid probing, then exact MaxSim on the decompressed candidates.
- ``colbert-rerank`` (Reranker): exact MaxSim over the candidates' (uncompressed) token embeddings.

The encoder (checkpoints, tokenisation, token embeddings) is ``systems.colbert_encoder``: any transformers encoder
(e.g. all-MiniLM-L6-v2: token embeddings, no projection), or the ``colbert-ir/colbertv2.0`` layout: BERT weights with
``linear.weight`` (dim × hidden) in the same state dict and an ``artifact.metadata`` JSON (query_maxlen, doc_maxlen,
dim, similarity, mask_punctuation, attend_to_mask_tokens, query/doc marker tokens ``[unused0]``/``[unused1]``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from harness.core.errors import HarnessError
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.models.encoder_pass import corpus_outputs
from harness.models.encoding import ArrayCache
from harness.models.resolve import ModelRef, resolve_model
from harness.system import NonNegativeInt, PositiveInt, Reranker, Retriever, StageResult, System, on_accelerator
from systems import colbert_index
from systems.colbert_encoder import ColBERTEncoder, ColBERTEncoderConfig
from systems.colbert_index import CompressedIndex, IndexSettings, maxsim, maxsim_many

__all__ = ["ColBERT", "ColBERTRerank", "maxsim", "maxsim_many"]

log = logging.getLogger("irh")


# ---------------------------------------------------------------- configs
@dataclass(frozen=True)
class ColBERTConfig(ColBERTEncoderConfig):
    n_centroids: PositiveInt | None = None  # None: a power of two near 16·√(token embeddings), as ColBERTv2/PLAID
    nbits: Literal[1, 2, 4] = 2  # bits per dimension of the quantised residual (ColBERTv2: 1 or 2)
    # centroids probed per query token: 32 keeps the search within 2.5 % of brute-force MaxSim over the decompressed
    # vectors on SciFact (8: 5 %) at ~10 % more query time (benchmarks/perf_maxsim.py)
    n_probe: PositiveInt = 32
    candidates: PositiveInt = 512  # docs (by centroid-only score) re-scored with MaxSim on decompressed vectors; >= k
    # final scoring of the shortlist: MaxSim on the index's decompressed vectors (ColBERTv2/PLAID), or on the exact
    # token vectors of the encoding cache (ColBERTv1-style; needs the uncompressed vectors beside the index)
    rescore: Literal["decompressed", "exact"] = "decompressed"
    kmeans_iters: PositiveInt = 4  # ColBERT's default kmeans_niters
    kmeans_sample: PositiveInt = 64  # k-means trains on at most this many token embeddings per centroid
    seed: NonNegativeInt = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_centroids is not None and self.n_centroids < 1:
            raise ValueError("n_centroids must be >= 1 (or unset)")
        for name in ("n_probe", "candidates", "kmeans_iters", "kmeans_sample"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    def index_settings(self) -> IndexSettings:
        return IndexSettings(self.n_centroids, self.nbits, self.kmeans_iters, self.kmeans_sample, self.seed)


def candidate_maxsim(q: Any, vectors: np.ndarray, offsets: np.ndarray, rows: Sequence[int]) -> Any:
    """Exact MaxSim of query vectors q (nq, dim) with the documents at ``rows`` of a token store (vectors (T, dim),
    document i's tokens at offsets[i]:offsets[i+1])."""
    import torch

    rows = np.asarray(rows, dtype=np.int64)
    starts, ends = offsets[rows], offsets[rows + 1]
    tokens = np.concatenate([np.arange(s, e) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)])
    d = torch.from_numpy(np.asarray(vectors[tokens], dtype=np.float32))
    return maxsim(q, d, torch.from_numpy(ends - starts))


# ---------------------------------------------------------------- systems
class _ColBERTBase(System):
    config: ColBERTEncoderConfig

    @classmethod
    def wants_device(cls, config: ColBERTEncoderConfig) -> bool:
        return on_accelerator(config.device)

    @cached_property
    def model(self) -> ModelRef:
        return resolve_model(self.config.model)

    @cached_property
    def encoder(self) -> ColBERTEncoder:
        return ColBERTEncoder(self.model, self.config, self.context.threads)

    def cache(self) -> ArrayCache:
        return ArrayCache(self.context.artifacts_dir / "colbert")

    def token_cache_parts(self, dataset: DatasetRef) -> dict[str, Any]:
        spec = self.encoder.shared_pass()
        if spec is not None:
            return spec.key_parts(dataset.digest("docs"))
        return {"what": "colbert-tokens", "docs": dataset.digest("docs"), **self.encoder.describe()}

    def _hidden(self, batch: dict) -> Any:
        out = self.encoder.model(**{name: t.to(self.encoder.device) for name, t in batch.items()})
        return out.last_hidden_state

    def token_embeddings(self, dataset: DatasetRef, metadata: dict[str, Any]) -> tuple[np.ndarray, ...]:
        """(vectors (T, dim) float16, lengths (n,), doc ids (n,)) of the whole corpus, cached on disk; how they were
        obtained goes into ``metadata``."""

        def compute() -> tuple[dict[str, np.ndarray], dict]:
            start = time.perf_counter()
            ids, texts = [], []
            for doc_id, text in dataset.docs_iter():
                ids.append(doc_id)
                texts.append(text)
            vectors, lengths = self.encoder.encode_docs(texts)
            seconds = time.perf_counter() - start
            log.info("colbert: encoded %d docs into %d token vectors in %.0fs", len(ids), len(vectors), seconds)
            return {"vectors": vectors, "lengths": lengths, "doc_ids": np.array(ids)}, {"seconds": seconds}

        spec = self.encoder.shared_pass()  # loads the encoder, which the queries need too: not corpus work
        if spec is not None:
            cache = ArrayCache(self.context.artifacts_dir / "encodings")
            with self.corpus_work():
                arrays, meta, computed = corpus_outputs(
                    cache, spec, dataset, self.encoder.tokenizer, self._hidden, self.config.batch_size, "colbert encode"
                )
            metadata.update(
                {
                    "token_encoding_seconds": meta.get("seconds"),
                    "encoder_pass": meta["key"],
                    "token_encodings": "computed" if computed else "cached",
                }
            )
            return arrays["tokens"], arrays["lengths"], arrays["doc_ids"]
        parts = self.token_cache_parts(dataset)
        with self.corpus_work():
            arrays, meta = self.cache().get_or_compute(parts, compute)
        metadata["token_encoding_seconds"] = meta.get("seconds")
        return arrays["vectors"], arrays["lengths"], arrays["doc_ids"]

    def score_scale(self) -> tuple[float, float]:
        """(a, b) with score = a·MaxSim_cosine + b·(query vectors used): l2 similarity on unit vectors is
        -Σ_i min_j |q_i - d_j|² = 2·MaxSim - 2·(used query vectors)."""
        return (2.0, -2.0) if self.encoder.settings.similarity == "l2" else (1.0, 0.0)

    def encode_queries(self, dataset: DatasetRef) -> tuple[list[str], Any, Any]:
        queries = dataset.queries()
        qids = list(queries)
        q = self.encoder.encode_queries([queries[i] for i in qids])
        used = (q.abs().sum(dim=-1) > 0).sum(dim=1)
        return qids, q, used


class ColBERT(_ColBERTBase, Retriever):
    kind = "colbert"
    Config = ColBERTConfig

    def content_digests(self, dataset: DatasetRef) -> dict[str, str]:
        return {"model": self.model.digest}

    def index(self, dataset: DatasetRef, metadata: dict[str, Any]) -> tuple[CompressedIndex, np.ndarray]:
        """The compressed index of the corpus (cached per token cache key + index settings), and the doc ids."""
        settings = self.config.index_settings()
        parts = {"what": "colbert-index", "tokens": self.token_cache_parts(dataset), **settings.key()}
        cache = self.cache()
        with self.corpus_work():
            hit = cache.get(cache.key(parts))
            if hit is None:
                vectors, lengths, _ = self.token_embeddings(dataset, metadata)
                start = time.perf_counter()
                arrays, meta = colbert_index.build(vectors, lengths, settings)
                meta["seconds"] = time.perf_counter() - start
                log.info("colbert: built index (%d centroids) in %.0fs", meta["n_centroids"], meta["seconds"])
                cache.put(cache.key(parts), arrays, {**meta, "key_parts": parts})
                hit = cache.get(cache.key(parts))
            arrays, meta = hit
            _, _, doc_ids = self.token_embeddings(dataset, metadata)
            index = CompressedIndex(arrays, meta)
        metadata["index_build_seconds"] = meta.get("seconds")
        return index, doc_ids

    def exact_tokens(self, dataset: DatasetRef, metadata: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
        """(token vectors, per-doc row offsets) when the shortlist is rescored with the exact vectors, else None."""
        if self.config.rescore != "exact":
            return None
        vectors, lengths, _ = self.token_embeddings(dataset, metadata)
        return vectors, np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])

    def search_query(
        self, index: CompressedIndex, q: Any, k: int, exact: tuple[np.ndarray, np.ndarray] | None
    ) -> tuple[Any, Any, int]:
        """One query's top-k doc rows, their raw MaxSim and the number of candidate docs probed: the shortlist scored
        on the index's decompressed vectors, or, when ``exact`` (token vectors, offsets) is given, on the exact ones.
        retrieve() passes exact_tokens(), so the config's ``rescore`` decides there."""
        pool_size = max(self.config.candidates, k)
        if exact is None:
            return index.search(q, k, self.config.n_probe, pool_size)
        vectors, offsets = exact
        pool, n_cand = index.shortlist(q, self.config.n_probe, pool_size)
        top = candidate_maxsim(q, vectors, offsets, pool.numpy()).topk(min(k, len(pool)))
        return pool[top.indices], top.values, n_cand

    def retrieve(self, dataset: DatasetRef, k: int) -> StageResult:
        import torch

        metadata: dict[str, Any] = {}
        index, doc_ids = self.index(dataset, metadata)
        exact = self.exact_tokens(dataset, metadata)
        qids, q, used = self.encode_queries(dataset)
        a, b = self.score_scale()
        scores: dict[str, dict[str, float]] = {}
        stats = np.zeros(2)
        start = time.perf_counter()
        pool_size = max(self.config.candidates, k)
        with torch.inference_mode():
            for i, qid in enumerate(tqdm(qids, desc=f"colbert search {dataset.name}", unit="q", mininterval=1.0)):
                docs, values, n_cand = self.search_query(index, q[i], k, exact)
                values = a * values + b * float(used[i])
                scores[qid] = {str(doc_ids[d]): float(v) for d, v in zip(docs.tolist(), values.tolist(), strict=True)}
                stats += (n_cand, min(pool_size, n_cand))
        n = max(len(qids), 1)
        metadata.update(
            {
                **index.size_report(),
                "n_docs": len(doc_ids),
                "nq": self.encoder.nq,
                "doc_maxlen": self.encoder.doc_maxlen,
                "n_probe": self.config.n_probe,
                "rescore": self.config.rescore,
                "mean_candidate_docs": float(stats[0] / n),
                "mean_rescored_docs": float(stats[1] / n),
                "search_seconds": time.perf_counter() - start,
            }
        )
        return StageResult(Run(scores), metadata)


class ColBERTRerank(_ColBERTBase, Reranker):
    kind = "colbert-rerank"
    Config = ColBERTEncoderConfig

    def content_digests(self, dataset: DatasetRef) -> dict[str, str]:
        return {"model": self.model.digest}

    def rerank(self, dataset: DatasetRef, candidates: Run, depth: int) -> StageResult:
        """Exact MaxSim over the candidates' token embeddings (the whole corpus is encoded once and cached, shared
        with ``colbert`` on the same model and settings)."""
        import torch

        metadata: dict[str, Any] = {}
        vectors, lengths, doc_ids = self.token_embeddings(dataset, metadata)
        row_of = {str(d): i for i, d in enumerate(doc_ids.tolist())}
        offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        qids, q, used = self.encode_queries(dataset)
        a, b = self.score_scale()
        scores: dict[str, dict[str, float]] = {}
        n_pairs, unknown = 0, 0
        with torch.inference_mode():
            for i, qid in enumerate(tqdm(qids, desc=f"colbert rerank {dataset.name}", unit="q", mininterval=1.0)):
                ranked = [d for d, _ in candidates.ranked(qid)[:depth]]
                known = [d for d in ranked if d in row_of]
                unknown += len(ranked) - len(known)
                if not known:
                    continue
                values = a * candidate_maxsim(q[i], vectors, offsets, [row_of[d] for d in known]) + b * float(used[i])
                scores[qid] = {doc: float(v) for doc, v in zip(known, values.tolist(), strict=True)}
                n_pairs += len(known)
        if unknown:
            raise HarnessError(f"{unknown} candidate doc id(s) are not in the corpus of {dataset.name}")
        metadata.update({"n_pairs_scored": n_pairs, "nq": self.encoder.nq, "doc_maxlen": self.encoder.doc_maxlen})
        return StageResult(Run(scores), metadata)
