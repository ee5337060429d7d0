"""One encoder pass over a corpus, shared by the systems that read the same transformer outputs.

``dense`` (pooled vectors) and ``colbert`` (per-token vectors) on the same plain encoder (no ColBERT markers, no
projection) feed the transformer the same token ids (BERT tokenisation drops the outer whitespace dense strips), so
one pass stores both outputs in one encoding-cache entry, keyed by what changes the transformer's output: model
digest, corpus digest, text preparation (prefix, lower-casing), max length, dtype, engine and precision. Like the
per-system caches before it, the key leaves out the batch size although batch composition changes the last bits of
fp32 results (29 of 128 SciFact docs differ by up to 4.6e-7 between batches of 32 and 64): dense and colbert both
default to 64, so either one computing the pass first stores the same bits. The entry holds:

- ``mean`` / ``cls``: the masked mean and the first token of the last hidden state, fp32 (n, hidden), before any
  normalisation, so ``dense`` derives exactly the vectors it computed from its own forward pass;
- ``tokens``: L2-normalised last hidden states (fp16) of the attended tokens that are not single punctuation
  characters (ColBERT's skiplist), in document order; ``lengths`` (n,) int32; ``doc_ids``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from harness.models.encoding import ArrayCache, sorted_batches

log = logging.getLogger("irh")

PASS_VERSION = 1  # bump when what a pass stores changes
CHUNK_DOCS = 20_000  # documents tokenised at a time


@dataclass(frozen=True)
class PassSpec:
    """Everything besides the corpus that the stored outputs depend on."""

    model: str  # model digest
    max_length: int
    dtype: str
    engine: str = "torch"
    precision: str = "fp32"
    prefix: str = ""
    lowercase: bool = False

    def key_parts(self, docs_digest: str) -> dict[str, Any]:
        return {"what": "encoder-pass", "version": PASS_VERSION, "docs": docs_digest, **asdict(self)}

    def prepare(self, texts: Sequence[str]) -> list[str]:
        prepared = [(self.prefix + text).strip() for text in texts]
        return [text.lower() for text in prepared] if self.lowercase else prepared


def punctuation_ids(tokenizer: Any) -> list[int]:
    """Token ids of single punctuation characters (ColBERT's skiplist for document tokens)."""
    import string

    ids = set()
    for symbol in string.punctuation:
        encoded = tokenizer.encode(symbol, add_special_tokens=False)
        if encoded:
            ids.add(int(encoded[0]))
    return sorted(ids)


def run_pass(
    spec: PassSpec,
    tokenizer: Any,
    forward: Callable[[dict], Any],
    texts: Sequence[str],
    batch_size: int,
    desc: str = "encode",
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """The pass itself: ``forward`` (padded batch → last hidden state, a torch tensor) over length-sorted batches."""
    import torch

    hidden_size = None
    mean: np.ndarray | None = None
    cls: np.ndarray | None = None
    per_doc: list[np.ndarray | None] = [None] * len(texts)
    skip = torch.tensor(punctuation_ids(tokenizer))
    prepared = spec.prepare(texts)
    with (
        torch.inference_mode(),
        tqdm(total=len(texts), desc=desc, unit="doc", disable=not progress, mininterval=1.0) as bar,
    ):
        for chunk in range(0, len(prepared), CHUNK_DOCS):
            part = prepared[chunk : chunk + CHUNK_DOCS]
            for positions, batch in sorted_batches(tokenizer, part, batch_size, spec.max_length):
                hidden = forward(batch)
                if mean is None:
                    hidden_size = int(hidden.shape[-1])
                    mean = np.empty((len(texts), hidden_size), dtype=np.float32)
                    cls = np.empty((len(texts), hidden_size), dtype=np.float32)
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                rows = chunk + positions
                mean[rows] = pooled.float().cpu().numpy()
                cls[rows] = hidden[:, 0].float().cpu().numpy()
                normed = torch.nn.functional.normalize(hidden.float(), p=2, dim=-1).cpu()
                keep = batch["attention_mask"].bool() & ~torch.isin(batch["input_ids"], skip)
                for row, pos in enumerate(positions):
                    per_doc[chunk + int(pos)] = normed[row][keep[row]].to(torch.float16).numpy()
                bar.update(len(positions))
    if mean is None or cls is None:
        empty = np.empty((0, 0), dtype=np.float32)
        return {"mean": empty, "cls": empty, "tokens": empty.astype(np.float16), "lengths": np.empty(0, np.int32)}
    lengths = np.array([len(v) for v in per_doc], dtype=np.int32)
    tokens = np.concatenate(per_doc)
    return {"mean": mean, "cls": cls, "tokens": tokens, "lengths": lengths}


def corpus_outputs(
    cache: ArrayCache,
    spec: PassSpec,
    dataset: Any,
    tokenizer: Any,
    forward: Callable[[dict], Any],
    batch_size: int,
    desc: str = "encode",
) -> tuple[dict[str, np.ndarray], dict, bool]:
    """(arrays, metadata incl. ``key``, computed now?) of the corpus pass, from the cache or computed once."""
    computed = False

    def compute() -> tuple[dict[str, np.ndarray], dict]:
        nonlocal computed
        computed = True
        start = time.perf_counter()
        pairs = list(dataset.docs_iter())
        arrays = run_pass(spec, tokenizer, forward, [text for _, text in pairs], batch_size, desc=desc)
        seconds = time.perf_counter() - start
        arrays["doc_ids"] = np.array([doc_id for doc_id, _ in pairs], dtype=str)
        log.info("%s: %d docs, %d token vectors in %.0fs", desc, len(pairs), len(arrays["tokens"]), seconds)
        return arrays, {"seconds": seconds, "batch_size": batch_size}

    parts = spec.key_parts(dataset.digest("docs"))
    arrays, meta = cache.get_or_compute(parts, compute)
    return arrays, {**meta, "key": cache.key(parts)}, computed
