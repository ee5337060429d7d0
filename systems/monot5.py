"""monoT5-style seq2seq reranker: "Query: q Document: d Relevant:" → log-softmax of the "true" vs "false" logits of
the first decoded token (Nogueira et al., 2020). Only the document is truncated, so the query and the "Relevant:"
cue always reach the model. Scores are cached per pair like the cross-encoder's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from harness.core.errors import HarnessError
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.system import PositiveInt, Reranker, StageResult, System, on_accelerator
from systems.cross_encoder import model_unavailable, run_from_pairs, score_candidates

PREFIX = "Query: {query} Document:"
SUFFIX = " Relevant:"


@dataclass(frozen=True)
class MonoT5Config:
    model: str  # a T5 (seq2seq) checkpoint: hf:castorini/monot5-base-msmarco, pkg:..., or a path
    max_length: PositiveInt = 512
    batch_size: PositiveInt = 16
    true_word: str = "true"  # the first token of each word is read (monoT5: ▁true / ▁false)
    false_word: str = "false"
    device: str = "auto"
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"


class MonoT5(System, Reranker):
    kind = "monot5"
    Config = MonoT5Config
    model: Any = None  # loaded on first use

    @classmethod
    def wants_device(cls, config: Any) -> bool:
        return on_accelerator(config.device)

    def applies_to(self, dataset: DatasetRef) -> str | None:
        return model_unavailable(self.config.model)

    def content_digests(self, dataset: DatasetRef) -> dict[str, str]:
        from harness.models.resolve import resolve_model

        return {"model": resolve_model(self.config.model).digest, "template": PREFIX + "{doc}" + SUFFIX}

    def load(self) -> None:
        from harness.models.encoding import load_transformers

        if self.model is not None:
            return
        c = self.config
        device = self.context.device or c.device  # the accelerator slot this stage holds, if any
        self.ref, self.device, self.tokenizer, self.model = load_transformers(
            c.model, "AutoModelForSeq2SeqLM", device, c.dtype, self.context.threads
        )
        self.token_ids = [self._first_id(self.config.true_word), self._first_id(self.config.false_word)]
        if self.token_ids[0] == self.token_ids[1]:
            raise HarnessError(f"{self.config.model}: true_word and false_word start with the same token")

    def _first_id(self, word: str) -> int:
        ids = self.tokenizer.encode(word, add_special_tokens=False)
        if not ids:
            raise HarnessError(f"{self.config.model}: the tokenizer turns {word!r} into no token")
        return ids[0]

    def encode(self, query: str, doc: str) -> list[int]:
        """Input ids with the document cut so that prefix + doc + suffix (+ eos) fit max_length."""
        tok = self.tokenizer
        head = tok.encode(PREFIX.format(query=query), add_special_tokens=False)
        tail = tok.encode(SUFFIX, add_special_tokens=False)
        # T5 inputs end with </s>; a tokenizer without an eos token falls back to the model's
        eos_id = tok.eos_token_id if tok.eos_token_id is not None else self.model.config.eos_token_id
        eos = [eos_id] if eos_id is not None else []
        body = tok.encode(" " + doc, add_special_tokens=False)
        budget = max(self.config.max_length - len(head) - len(tail) - len(eos), 0)
        return head + body[:budget] + tail + eos

    def score_texts(self, queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        import torch

        self.load()
        encoded = [self.encode(q, d) for q, d in zip(queries, docs, strict=True)]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        start_id = self.model.config.decoder_start_token_id
        out = np.empty(len(encoded), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, len(order), self.config.batch_size):
                rows = order[s : s + self.config.batch_size]
                width = max(len(encoded[i]) for i in rows)
                ids = torch.tensor([encoded[i] + [pad] * (width - len(encoded[i])) for i in rows])
                mask = torch.tensor([[1] * len(encoded[i]) + [0] * (width - len(encoded[i])) for i in rows])
                decoder = torch.full((len(rows), 1), start_id, dtype=torch.long)
                logits = self.model(
                    input_ids=ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    decoder_input_ids=decoder.to(self.device),
                ).logits[:, 0, self.token_ids]
                out[rows] = logits.float().log_softmax(-1)[:, 0].cpu().numpy()
        return out

    def rerank(self, dataset: DatasetRef, candidates: Run, depth: int) -> StageResult:
        self.load()
        settings = {k: v for k, v in vars(self.config).items() if k not in ("batch_size", "device")}
        pairs, values, stats = score_candidates(
            dataset,
            candidates,
            self.context.artifacts_dir / "pair-scores",
            {"scorer": "monot5", "model": self.ref.digest, "settings": settings, "template": PREFIX + SUFFIX},
            lambda queries, docs: [float(s) for s in self.score_texts(queries, docs)],
        )
        return StageResult(run_from_pairs(pairs, values), {"rerank": stats})
