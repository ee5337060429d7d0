"""The encoding layer every neural family shares: device/dtype choice, length-sorted batching, and an on-disk cache
of corpus encodings (memory-mapped numpy arrays) that every suite reuses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.hashing import digest_value
from harness.store import STORE_FORMAT, artefact_ready, build_artefact


def select_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def select_dtype(dtype: str, device: str):
    """fp32 on CPU (bf16 is ~150× slower on these CPUs); bf16 on GPUs that support it, else fp16."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]


def load_transformers(source: str, auto_class: str, device: str, dtype: str, threads: int) -> tuple[Any, str, Any, Any]:
    """(model ref, device, tokenizer, model in eval mode on that device) of a transformers checkpoint loaded with
    ``transformers.<auto_class>``: the one loading path of the pair-scoring rerankers."""
    import torch
    import transformers

    from harness.models.resolve import resolve_model

    torch.set_num_threads(threads)
    ref = resolve_model(source)
    device = select_device(device)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(ref.path))
    model = getattr(transformers, auto_class).from_pretrained(str(ref.path), dtype=select_dtype(dtype, device))
    return ref, device, tokenizer, model.to(device).eval()


def sorted_batches(
    tokenizer: Any,
    texts: Sequence[str],
    batch_size: int,
    max_length: int,
    pairs: Sequence[str] | None = None,
    truncation: str | bool = True,
) -> Iterator[tuple[np.ndarray, dict]]:
    """(positions, padded batch) over texts sorted by token length, longest first, so padding is minimal and the
    first batch shows the worst-case memory. Tokenises once; each batch is padded to its own longest member."""
    if pairs is None:
        encoded = tokenizer(list(texts), truncation=truncation, max_length=max_length)
    else:
        encoded = tokenizer(list(texts), list(pairs), truncation=truncation, max_length=max_length)
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])
    order = np.argsort(-lengths, kind="stable")
    keys = list(encoded.keys())
    for start in range(0, len(order), batch_size):
        positions = order[start : start + batch_size]
        features = [{k: encoded[k][i] for k in keys} for i in positions]
        yield positions, tokenizer.pad(features, return_tensors="pt")


class ArrayCache:
    """Named numpy arrays + JSON metadata under ``root/<key>/``, written to a temp dir, sealed with a manifest and
    renamed into place, so a crash mid-write never leaves a usable-looking entry. Reads check the manifest (once per
    process), then memory-map."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def key(self, parts: dict) -> str:
        return digest_value({**parts, "store": STORE_FORMAT})

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        path = self.root / key
        if not artefact_ready(path, f"{self.root.name} cache"):
            return None
        meta = json.loads((path / "meta.json").read_text())
        arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in meta["arrays"]}
        return arrays, meta

    def put(self, key: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
        def fill(tmp: Path) -> None:
            for name, array in arrays.items():
                np.save(tmp / f"{name}.npy", np.ascontiguousarray(array))
            (tmp / "meta.json").write_text(json.dumps({**meta, "arrays": sorted(arrays)}, indent=1, default=str))

        build_artefact(self.root / key, fill)

    def get_or_compute(
        self, parts: dict, compute: Callable[[], tuple[dict[str, np.ndarray], dict]]
    ) -> tuple[dict[str, np.ndarray], dict]:
        key = self.key(parts)
        hit = self.get(key)
        if hit is not None:
            return hit
        arrays, meta = compute()
        self.put(key, arrays, {**meta, "key_parts": parts})
        return self.get(key)


def encode_texts(
    tokenizer: Any,
    texts: Sequence[str],
    forward: Callable[[dict], Any],
    *,
    batch_size: int,
    max_length: int,
    device: str = "cpu",
    desc: str = "encode",
    unit: str = "doc",
    progress: bool = True,
) -> np.ndarray:
    """One fixed-size float32 vector per text, in the input order: ``forward`` (padded batch on ``device`` → tensor
    of shape (batch, ...)) runs over length-sorted batches under ``torch.inference_mode``, with a progress bar in
    texts/s. For outputs of variable size per text (token vectors), drive ``sorted_batches`` directly."""
    import torch
    from tqdm import tqdm

    if len(texts) == 0:
        return np.empty((0, 0), dtype=np.float32)
    out: np.ndarray | None = None
    with (
        torch.inference_mode(),
        tqdm(total=len(texts), desc=desc, unit=unit, disable=not progress, mininterval=1.0) as bar,
    ):
        for positions, batch in sorted_batches(tokenizer, texts, batch_size, max_length):
            vectors = forward({name: t.to(device) for name, t in batch.items()})
            vectors = vectors.float().cpu().numpy()
            if out is None:
                out = np.empty((len(texts), *vectors.shape[1:]), dtype=np.float32)
            out[positions] = vectors
            bar.update(len(positions))
    assert out is not None
    return out
