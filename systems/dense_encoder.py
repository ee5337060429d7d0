"""The dense encoder: a sentence-transformers model run with plain transformers (or ONNX Runtime), pooled and
normalised as the model's own sentence-transformers configuration says (``read_st_config``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.core.errors import HarnessError
from harness.models.encoder_pass import PassSpec
from harness.models.encoding import encode_texts, select_device, select_dtype
from harness.models.engines import check_engine, has_torch_weights, load_onnx, shipped_onnx
from harness.models.resolve import ModelRef

if TYPE_CHECKING:
    from systems.dense import DenseConfig

log = logging.getLogger("irh")


# ---------------------------------------------------------------- the model's sentence-transformers configuration
@dataclass(frozen=True)
class STConfig:
    """What a sentence-transformers folder says about how to embed with its transformer."""

    transformer_dir: Path
    pooling: str | None = None  # "mean" | "cls" | an unsupported mode name | None (no ST config)
    normalize: bool = False
    max_seq_length: int | None = None
    lowercase: bool = False
    similarity: str | None = None
    include_prompt: bool = True
    modules: tuple[str, ...] = ()


_ST_POOLING_LEGACY = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def read_st_config(ref: ModelRef) -> STConfig:
    """The sentence-transformers settings of a model folder (legacy and current file formats)."""
    root = ref.path
    modules_file = root / "modules.json"
    if not modules_file.exists():
        return STConfig(transformer_dir=root, pooling="mean")  # what sentence-transformers does with such a model
    modules = _read_json(modules_file, ref)
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    unsupported = sorted({k for k in kinds if k not in ("Transformer", "Pooling", "Normalize")})
    if unsupported:
        raise HarnessError(
            f"model {ref.source!r}: sentence-transformers module(s) {', '.join(unsupported)} are not supported by "
            "kind 'dense' (supported: Transformer, Pooling, Normalize)"
        )
    if kinds.count("Transformer") != 1:
        raise HarnessError(f"model {ref.source!r}: modules.json should name exactly one Transformer module")
    by_kind = {k: root / str(m.get("path", "")) for k, m in zip(kinds, modules, strict=True)}
    transformer_dir = by_kind["Transformer"]
    st = _read_json(transformer_dir / "sentence_bert_config.json", ref)
    pooling, include_prompt = "mean", True  # sentence-transformers' default when there is no Pooling module
    if "Pooling" in by_kind:
        pooling_config = _read_json(by_kind["Pooling"] / "config.json", ref)
        pooling = _pooling_mode(pooling_config)
        include_prompt = bool(pooling_config.get("include_prompt", True))
    model_config = _read_json(root / "config_sentence_transformers.json", ref)
    return STConfig(
        transformer_dir=transformer_dir,
        pooling=pooling,
        normalize="Normalize" in by_kind,
        max_seq_length=st.get("max_seq_length"),
        lowercase=bool(st.get("do_lower_case", False)),
        similarity=model_config.get("similarity_fn_name"),
        include_prompt=include_prompt,
        modules=tuple(kinds),
    )


def _pooling_mode(config: dict) -> str:
    mode = config.get("pooling_mode")
    if mode is None:  # legacy: one boolean per mode; none set means mean (sentence-transformers' rule)
        active = [name for key, name in _ST_POOLING_LEGACY.items() if config.get(key)]
        mode = active if len(active) > 1 else (active[0] if active else "mean")
    if isinstance(mode, list | tuple):
        return mode[0] if len(mode) == 1 else "+".join(mode)
    return str(mode)


def _read_json(path: Path, ref: ModelRef) -> Any:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HarnessError(f"model {ref.source!r}: {path.name} is not valid JSON ({e})") from None


# ---------------------------------------------------------------- the encoder
class DenseEncoder:
    """Texts → one vector each: transformer, then mean or CLS pooling, then (optionally) L2 normalisation."""

    def __init__(
        self, ref: ModelRef, config: DenseConfig, device: str | None = None, artifacts_dir: Path | None = None
    ):
        check_engine(config.engine, config.precision, config.dtype)
        self.ref = ref
        self.config = config
        st = read_st_config(ref)
        self.pooling = config.pooling if config.pooling != "auto" else st.pooling
        if self.pooling not in ("mean", "cls"):
            raise HarnessError(
                f"model {ref.source!r}: its sentence-transformers config pools by {self.pooling!r}, which kind 'dense' "
                "does not implement; set pooling = 'mean' or 'cls' to override"
            )
        if not st.include_prompt and (config.query_prefix or config.doc_prefix):
            raise HarnessError(f"model {ref.source!r} pools without its prompt (include_prompt = false): unsupported")
        self.normalize = st.normalize if config.normalize is None else config.normalize
        similarity = config.similarity if config.similarity != "auto" else (st.similarity or "cosine")
        if similarity in ("dot_product", "dot_score"):
            similarity = "dot"
        if similarity not in ("cosine", "dot"):
            raise HarnessError(f"model {ref.source!r}: similarity {similarity!r} is not supported (cosine, dot)")
        self.similarity = similarity
        self.lowercase = st.lowercase
        self.device = select_device(device or config.device) if config.engine == "torch" else "cpu"
        self.dtype = select_dtype(config.dtype, self.device)
        self.tokenizer, self.model = self._load(st.transformer_dir, artifacts_dir)
        self.max_length = config.max_length or st.max_seq_length or _model_max_length(self.tokenizer, self.model)
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if config.max_length and positions and config.max_length > positions:
            raise HarnessError(f"max_length {config.max_length} exceeds the model's {positions} positions")
        self.texts_encoded = 0  # texts through the transformer, for reports and tests

    def _load(self, transformer_dir: Path, artifacts_dir: Path | None) -> tuple[Any, Any]:
        """(tokenizer, model): the torch checkpoint, or an ONNX Runtime session (config.engine)."""
        import torch

        def load_torch() -> tuple[Any, Any]:
            return load_encoder(self.ref, transformer_dir, self.device, self.dtype)

        if self.config.engine == "torch":
            if not has_torch_weights(transformer_dir) and shipped_onnx(transformer_dir) is not None:
                raise HarnessError(f"model {self.ref.source!r} ships only an ONNX graph: set engine = 'onnx'")
            return load_torch()
        if artifacts_dir is None:
            raise HarnessError("engine 'onnx' needs an artifacts directory for the exported graph")
        return load_onnx(
            self.ref,
            transformer_dir,
            self.config.precision,
            "last_hidden_state",
            torch.get_num_threads(),
            artifacts_dir,
            load_torch,
        )

    def doc_settings(self) -> dict[str, Any]:
        """Settings that change document vectors (the cache key's part besides model and corpus)."""
        return {
            "engine": self.config.engine,
            "precision": self.config.precision,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "doc_prefix": self.config.doc_prefix,
            "max_length": self.max_length,
            "lowercase": self.lowercase,
            "dtype": str(self.dtype),
        }

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.ref.source,
            **self.doc_settings(),
            "similarity": self.similarity,
            "device": self.device,
            "dim": int(self.model.config.hidden_size) if hasattr(self.model.config, "hidden_size") else None,
        }

    def encode(self, texts: Sequence[str], prefix: str = "", desc: str = "dense encode", unit: str = "doc") -> Any:
        """(len(texts), dim) float32; the prefix is prepended and, like sentence-transformers, texts are stripped."""
        prepared = [(prefix + text).strip() for text in texts]
        if self.lowercase:
            prepared = [text.lower() for text in prepared]
        return encode_texts(
            self.tokenizer,
            prepared,
            self.forward,
            batch_size=self.config.batch_size,
            max_length=self.max_length,
            device=self.device,
            desc=desc,
            unit=unit,
        )

    def pass_spec(self) -> PassSpec:
        """The corpus pass this encoder's document vectors are pooled from."""
        return PassSpec(
            model=self.ref.digest,
            max_length=self.max_length,
            dtype=str(self.dtype),
            engine=self.config.engine,
            precision=self.config.precision,
            prefix=self.config.doc_prefix,
            lowercase=self.lowercase,
        )

    def hidden(self, batch: dict) -> Any:
        """The transformer's last hidden state of a padded batch (moved to the device here)."""
        self.texts_encoded += len(batch["input_ids"])
        return self.model(**{name: t.to(self.device) for name, t in batch.items()}).last_hidden_state

    def forward(self, batch: dict) -> Any:
        import torch

        hidden = self.hidden(batch)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        pooled = pooled.float()
        return torch.nn.functional.normalize(pooled, p=2, dim=1) if self.normalize else pooled


def load_encoder(ref: ModelRef, transformer_dir: Path, device: str, dtype: Any) -> tuple[Any, Any]:
    """(tokenizer, model) of a transformers encoder; one HarnessError naming the model if it is not one."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if transformer_dir.is_file():
        raise HarnessError(f"model {ref.source!r} is a single file ({transformer_dir.name}), not an encoder folder")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(transformer_dir))
        model, info = AutoModel.from_pretrained(str(transformer_dir), dtype=dtype, output_loading_info=True)
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HarnessError(f"model {ref.source!r} is not a transformers encoder checkpoint: {reason}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    # an unused pooler may be absent (it is randomly initialised, never used); any other missing weight is not
    missing = sorted(k for k in info.get("missing_keys", ()) if not (k.startswith("pooler.") or ".pooler." in k))
    if missing or info.get("mismatched_keys"):
        shown = ", ".join(missing[:3]) + (f" (+{len(missing) - 3} more)" if len(missing) > 3 else "")
        raise HarnessError(f"model {ref.source!r}: its weights do not fit its config ({shown or 'shape mismatch'})")
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()  # T5-style: the encoder stack alone
    return tokenizer, model.eval().to(device)


def _model_max_length(tokenizer: Any, model: Any) -> int:
    limits = [tokenizer.model_max_length] if 0 < tokenizer.model_max_length < 100_000 else []
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions:
        limits.append(positions)
    return min(limits) if limits else 512
