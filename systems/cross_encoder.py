"""Cross-encoder reranker: any Hugging Face sequence-classification checkpoint scores ``[CLS] query [SEP] doc [SEP]``.

Single-logit heads give the score directly; 2-class heads give logit[1] − logit[0] (``two_class = "diff"``) or
log P(relevant) (``"log_softmax"``). Pairs are tokenised once, sorted by length and padded per batch; only the
document is truncated to ``max_length``. Scores are cached per (model digest, settings, query text, doc text), so
reranking a run that shares pairs with an earlier one (another first stage, a deeper cut-off) scores only new pairs.

Also home of the pieces every pairwise-scoring reranker shares: ``score_candidates`` (over ``ScoreCache``) and
``run_from_pairs``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.core.errors import HarnessError
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.store import ScoreCache
from harness.system import PositiveInt, Reranker, StageResult, System, on_accelerator

log = logging.getLogger("irh")


# ---------------------------------------------------------------- shared by the pairwise rerankers
def model_unavailable(source: str) -> str | None:
    """Why a model cannot be had (the stage is then skipped with this reason), or None."""
    from harness.models.resolve import resolve_model

    try:
        resolve_model(source)
    except HarnessError as e:
        return e.message
    return None


def candidate_pairs(dataset: DatasetRef, candidates: Run) -> tuple[list[tuple[str, str]], dict[str, str], dict]:
    """(qid, docid) pairs in ranked order, query texts, doc texts; a candidate without text is an error."""
    queries = dataset.queries()
    pairs = [(qid, did) for qid in sorted(candidates.scores) for did, _ in candidates.ranked(qid)]
    doc_ids = list(dict.fromkeys(did for _, did in pairs))
    texts = dataset.doc_texts(doc_ids)
    missing = [d for d in doc_ids if d not in texts]
    if missing:
        raise HarnessError(
            f"{len(missing)} candidate document(s) have no text in {dataset.irds_id} (e.g. {', '.join(missing[:3])})"
        )
    return pairs, queries, texts


def score_with_cache(
    cache: ScoreCache,
    items: Sequence[tuple[str, str]],
    compute: Callable[[list[int]], dict[int, Any]],
    chunk: int = 256,
) -> tuple[list[Any], dict]:
    """Values for (query text, doc text) items: cached ones read, the rest computed (compute(indices) → {index:
    value}) and stored chunk by chunk. Returns the values and stats for the run sidecar."""
    keys = [cache.pair_key(q, d) for q, d in items]
    known = cache.get_many(keys)
    todo = list(dict.fromkeys(keys[i] for i in range(len(items)) if keys[i] not in known))
    first_index = {}
    for i, k in enumerate(keys):
        first_index.setdefault(k, i)
    start = time.perf_counter()
    for s in range(0, len(todo), chunk):
        indices = [first_index[k] for k in todo[s : s + chunk]]
        computed = compute(indices)
        new = {keys[i]: computed[i] for i in indices}
        cache.put_many(new)
        known.update(new)
    seconds = time.perf_counter() - start
    stats = {
        "pairs": len(items),
        "pairs_scored": len(todo),
        "pairs_from_cache": len(items) - len(todo),
        "scoring_seconds": round(seconds, 3),
        "pairs_per_second": round(len(todo) / seconds, 3) if todo and seconds > 0 else None,
    }
    return [known[k] for k in keys], stats


def score_candidates(
    dataset: DatasetRef,
    candidates: Run,
    cache_dir: Path,
    scorer: dict,
    score: Callable[[list[str], list[str]], Sequence[Any]],
    *,
    chunk: int = 256,
    desc: str | None = None,
) -> tuple[list[tuple[str, str]], list[Any], dict]:
    """Every candidate (qid, docid) pair's value, from the ``scorer``'s cache or ``score(query texts, doc texts)``
    (JSON-able values, computed chunk by chunk). Returns the pairs in ranked order, their values and sidecar stats."""
    from tqdm import tqdm

    pairs, queries, texts = candidate_pairs(dataset, candidates)
    items = [(queries[q], texts[d]) for q, d in pairs]
    cache = ScoreCache(cache_dir, scorer)
    bar = tqdm(total=len(items), desc=desc, unit="pair", disable=desc is None)

    def compute(indices: list[int]) -> dict[int, Any]:
        values = score([items[i][0] for i in indices], [items[i][1] for i in indices])
        bar.update(len(indices))
        return dict(zip(indices, values, strict=True))

    try:
        values, stats = score_with_cache(cache, items, compute, chunk)
    finally:
        bar.close()
        cache.close()
    return pairs, values, stats


def run_from_pairs(pairs: Sequence[tuple[str, str]], scores: Sequence[float]) -> Run:
    out: dict[str, dict[str, float]] = {}
    for (qid, did), score in zip(pairs, scores, strict=True):
        out.setdefault(qid, {})[did] = float(score)
    return Run(out)


# ---------------------------------------------------------------- the cross-encoder
@dataclass(frozen=True)
class CrossEncoderConfig:
    model: str  # hf:ORG/NAME, pkg:PACKAGE[/SUBDIR] or a path to a sequence-classification checkpoint
    max_length: PositiveInt = 512
    batch_size: PositiveInt = 32
    two_class: Literal["diff", "log_softmax"] = "diff"  # 2-class heads: logit[1]-logit[0], or log P(class 1)
    device: str = "auto"
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"

    def __post_init__(self):
        if self.max_length < 8 or self.batch_size < 1:
            raise ValueError("max_length must be ≥ 8 and batch_size ≥ 1")


class CrossEncoder(System, Reranker):
    kind = "cross-encoder"
    Config = CrossEncoderConfig
    model: Any = None  # loaded on first use

    @classmethod
    def wants_device(cls, config: Any) -> bool:
        return on_accelerator(config.device)

    def applies_to(self, dataset: DatasetRef) -> str | None:
        return model_unavailable(self.config.model)

    def content_digests(self, dataset: DatasetRef) -> dict[str, str]:
        from harness.models.resolve import resolve_model

        return {"model": resolve_model(self.config.model).digest}

    # ---------------------------------------------------------------- model
    def load(self) -> None:
        from harness.models.encoding import load_transformers

        if self.model is not None:
            return
        c = self.config
        device = self.context.device or c.device  # the accelerator slot this stage holds, if any
        self.ref, self.device, self.tokenizer, self.model = load_transformers(
            c.model, "AutoModelForSequenceClassification", device, c.dtype, self.context.threads
        )
        if self.model.config.num_labels not in (1, 2):
            raise HarnessError(
                f"{self.config.model}: a cross-encoder needs 1 or 2 output labels, not {self.model.config.num_labels}"
            )

    def score_texts(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        """Relevance of each (query, doc) pair, no cache: length-sorted batches, document-only truncation."""
        import torch

        from harness.models.encoding import sorted_batches

        self.load()
        out = np.empty(len(queries), dtype=np.float32)
        batches = sorted_batches(
            self.tokenizer,
            self._fit_queries(queries),
            self.config.batch_size,
            self.config.max_length,
            pairs=docs,
            truncation="only_second",
        )
        with torch.inference_mode():
            for positions, batch in batches:
                logits = self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits.float()
                out[positions] = self._head(logits).cpu().numpy()
        return out

    def _fit_queries(self, queries: Sequence[str]) -> list[str]:
        """Queries cut to half of max_length tokens: only-the-document truncation needs room for the document."""
        limit = self.config.max_length // 2
        out = list(queries)
        unique = list(dict.fromkeys(out))
        encoded = self.tokenizer(unique, add_special_tokens=False, return_offsets_mapping=True)
        cut = {
            q: q[: offsets[limit - 1][1]]
            for q, offsets in zip(unique, encoded["offset_mapping"], strict=True)
            if len(offsets) > limit
        }
        return [cut.get(q, q) for q in out] if cut else out

    def _head(self, logits):
        if logits.shape[-1] == 1:
            return logits[:, 0]
        if self.config.two_class == "diff":
            return logits[:, 1] - logits[:, 0]
        return logits.log_softmax(-1)[:, 1]

    # ---------------------------------------------------------------- stage
    def rerank(self, dataset: DatasetRef, candidates: Run, depth: int) -> StageResult:
        self.load()
        settings = {k: v for k, v in vars(self.config).items() if k not in ("batch_size", "device")}
        pairs, values, stats = score_candidates(
            dataset,
            candidates,
            self.context.artifacts_dir / "pair-scores",
            {"scorer": "cross-encoder", "model": self.ref.digest, "settings": settings, "dtype": str(self.model.dtype)},
            lambda queries, docs: [float(s) for s in self.score_texts(queries, docs)],
            chunk=max(256, self.config.batch_size * 8),
            desc=f"{self.kind} {dataset.name}",
        )
        log.info("%s: %d pairs scored, %d cached", self.kind, stats["pairs_scored"], stats["pairs_from_cache"])
        return StageResult(run_from_pairs(pairs, values), {"rerank": stats})
