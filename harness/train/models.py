"""The trainable models, each saved in the layout its system loads as a ``path`` model.

- ``CrossEncoderModel``: a Hugging Face sequence-classification head with one logit over ``[CLS] q [SEP] d [SEP]``
  (document-only truncation), saved with ``save_pretrained``: what ``cross-encoder`` loads.
- ``ColBERTModel``: encoder + linear projection to ``dim``, L2-normalised token vectors, MaxSim; ColBERT's
  tokenisation ([Q]/[D] markers ``[unused0]``/``[unused1]`` in place of a ``'. '`` placeholder after [CLS], queries
  padded with [MASK] to ``query_maxlen`` and not attended to, punctuation dropped from documents). Saved as
  ``colbert-ir/colbertv2.0`` is: encoder weights under ``bert.`` and ``linear.weight`` in one state dict, the encoder's
  config.json, tokenizer files and ``artifact.metadata``: what ``colbert`` / ``colbert-rerank`` load.
"""

from __future__ import annotations

import contextlib
import json
import string
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from harness.core.errors import HarnessError
from harness.models.resolve import ModelRef


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Loading a backbone into another head reports the new (randomly initialised) weights: expected here."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


class CrossEncoderModel(nn.Module):
    architecture = "cross-encoder"

    def __init__(self, backbone: ModelRef, max_length: int):
        super().__init__()
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.max_length = max_length
        try:
            with quiet_transformers():
                self.tokenizer = AutoTokenizer.from_pretrained(str(backbone.path))
                self.model = AutoModelForSequenceClassification.from_pretrained(
                    str(backbone.path), num_labels=1, ignore_mismatched_sizes=True
                )
        except (OSError, ValueError) as e:
            raise HarnessError(f"backbone {backbone.source!r} cannot be loaded: {str(e).splitlines()[0]}") from None

    def forward(self, queries: list[str], docs: list[list[str]]) -> tuple[torch.Tensor, None]:
        """Scores (B, G) of every query's group of documents (no in-batch scores: a cross-encoder scores pairs)."""
        flat_q = [q for q, group in zip(queries, docs, strict=True) for _ in group]
        flat_d = [d for group in docs for d in group]
        enc = self.tokenizer(
            flat_q, flat_d, truncation="only_second", max_length=self.max_length, padding=True, return_tensors="pt"
        )
        device = _device(self)
        logits = self.model(**{k: v.to(device) for k, v in enc.items()}).logits[:, 0]
        return logits.float().view(len(queries), -1), None

    def save(self, out: Path) -> None:
        self.model.save_pretrained(str(out))
        self.tokenizer.save_pretrained(str(out))


class ColBERTModel(nn.Module):
    architecture = "colbert"
    QUERY_MARKER = "[unused0]"
    DOC_MARKER = "[unused1]"

    def __init__(self, backbone: ModelRef, dim: int, query_maxlen: int, doc_maxlen: int):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        try:
            with quiet_transformers():
                self.tokenizer = AutoTokenizer.from_pretrained(str(backbone.path))
                self.bert = AutoModel.from_pretrained(str(backbone.path))
        except (OSError, ValueError) as e:
            raise HarnessError(f"backbone {backbone.source!r} cannot be loaded: {str(e).splitlines()[0]}") from None
        self.linear = nn.Linear(self.bert.config.hidden_size, dim, bias=False)
        self.dim, self.query_maxlen, self.doc_maxlen = dim, query_maxlen, doc_maxlen
        tok = self.tokenizer
        if tok.mask_token_id is None or tok.pad_token_id is None:
            raise HarnessError(f"backbone {backbone.source!r}: ColBERT needs a tokenizer with [MASK] and [PAD] tokens")
        self.q_marker = self._marker(backbone, self.QUERY_MARKER)
        self.d_marker = self._marker(backbone, self.DOC_MARKER)
        encoded = [tok.encode(c, add_special_tokens=False) for c in string.punctuation]
        skip = {ids[0] for ids in encoded if ids}
        self.register_buffer("skiplist", torch.tensor(sorted(skip), dtype=torch.long), persistent=False)

    def _marker(self, backbone: ModelRef, token: str) -> int:
        ids = self.tokenizer.convert_tokens_to_ids([token])
        if not ids or ids[0] is None or ids[0] == self.tokenizer.unk_token_id:
            raise HarnessError(f"backbone {backbone.source!r}: marker token {token!r} is not in the vocabulary")
        return int(ids[0])

    def _vectors(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        device = _device(self)
        hidden = self.bert(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        return nn.functional.normalize(self.linear(hidden).float(), p=2, dim=-1)

    def encode_queries(self, texts: list[str]) -> torch.Tensor:
        """(B, query_maxlen, dim): [Q] marker, [MASK] padding (not attended to, but every position is scored)."""
        enc = self.tokenizer(
            [". " + t for t in texts],
            padding="max_length",
            truncation=True,
            max_length=self.query_maxlen,
            return_tensors="pt",
        )
        ids, mask = enc["input_ids"], enc["attention_mask"]
        ids[:, 1] = self.q_marker
        ids[ids == self.tokenizer.pad_token_id] = self.tokenizer.mask_token_id
        return self._vectors(ids, mask)

    def encode_docs(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, L, dim) vectors and (N, L) the positions that count: attended, and not punctuation."""
        enc = self.tokenizer(
            [". " + t for t in texts],
            padding="longest",
            truncation=True,
            max_length=self.doc_maxlen,
            return_tensors="pt",
        )
        ids, mask = enc["input_ids"], enc["attention_mask"]
        ids[:, 1] = self.d_marker
        keep = mask.bool() & ~torch.isin(ids, self.skiplist.cpu())
        return self._vectors(ids, mask), keep.to(_device(self))

    @staticmethod
    def maxsim(q: torch.Tensor, d: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """(B, N): Σ over query tokens of the max over each document's kept tokens of q·d."""
        sim = torch.einsum("bqh,nlh->bnql", q, d)
        return sim.masked_fill(~keep[None, :, None, :], float("-inf")).amax(dim=-1).sum(dim=-1)

    def forward(self, queries: list[str], docs: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(group scores (B, G), in-batch scores (B, B·G): every query against every document of the micro-batch)."""
        b, g = len(queries), len(docs[0])
        q = self.encode_queries(queries)
        d, keep = self.encode_docs([text for group in docs for text in group])
        every = self.maxsim(q, d, keep)
        rows = torch.arange(b, device=every.device)
        return every.view(b, b, g)[rows, rows], every

    def save(self, out: Path) -> None:
        from safetensors.torch import save_file

        prefix = self.bert.base_model_prefix or "bert"
        state = {f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in self.bert.state_dict().items()}
        state["linear.weight"] = self.linear.weight.detach().cpu().contiguous()
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
        config = self.bert.config
        config.architectures = ["HF_ColBERT"]
        config.save_pretrained(str(out))
        self.tokenizer.save_pretrained(str(out))
        metadata = {
            "query_maxlen": self.query_maxlen,
            "doc_maxlen": self.doc_maxlen,
            "dim": self.dim,
            "similarity": "cosine",
            "mask_punctuation": True,
            "attend_to_mask_tokens": False,
            "query_token_id": self.QUERY_MARKER,
            "doc_token_id": self.DOC_MARKER,
        }
        (out / "artifact.metadata").write_text(json.dumps(metadata, indent=1))


def build_model(architecture: str, backbone: ModelRef, max_length: int, query_maxlen: int, dim: int) -> nn.Module:
    if architecture == "cross-encoder":
        return CrossEncoderModel(backbone, max_length)
    return ColBERTModel(backbone, dim, query_maxlen, max_length)
