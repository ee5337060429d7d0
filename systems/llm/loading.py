"""Loading causal LMs: a Hugging Face folder as is, a GGUF file converted to torch ONCE and cached.

transformers de-quantises a GGUF file tensor by tensor (about a minute for 0.5B parameters, plus ~15 s to rebuild
the tokenizer from the GGUF vocabulary); the converted fp32 weights and tokenizer are saved with save_pretrained under
``artifacts_dir/gguf-converted/<GGUF digest>/`` (temp dir + rename), so every later load is a plain safetensors load.
"""

from __future__ import annotations

import logging
from pathlib import Path

from harness.core.errors import HarnessError
from harness.models.resolve import ModelRef

log = logging.getLogger("irh")


def gguf_file(path: Path) -> Path | None:
    """The GGUF file a model path names (the file itself, or the only .gguf in a folder without config.json)."""
    if path.is_file():
        with open(path, "rb") as f:
            return path if f.read(4) == b"GGUF" else None
    if (path / "config.json").exists():
        return None
    found = sorted(path.glob("*.gguf"))
    if len(found) > 1:
        raise HarnessError(f"{path} holds several GGUF files; name one of them as the model path")
    return found[0] if found else None


def converted_dir(ref: ModelRef, artifacts_dir: Path) -> tuple[Path, bool]:
    """The Hugging Face folder of a model; a GGUF is converted on first use. Returns (folder, converted now)."""
    gguf = gguf_file(ref.path)
    if gguf is None:
        return ref.path, False
    from harness.store import STORE_FORMAT, artefact_ready, build_artefact

    final = Path(artifacts_dir) / "gguf-converted" / f"{ref.digest}.v{STORE_FORMAT}"
    if artefact_ready(final, "converted GGUF model"):
        return final, False
    log.info("converting %s (GGUF) to torch weights, once: %s", ref.source, final)
    build_artefact(final, lambda tmp: _convert(gguf, tmp))
    return final, True


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except ImportError as e:  # gguf / accelerate missing
        raise HarnessError(f"loading GGUF {gguf.name} needs: {e}") from None
    # the weights are de-quantised plain tensors now; drop the GGUF quantiser so save_pretrained accepts the model
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def load_causal_lm(ref: ModelRef, artifacts_dir: Path, device: str, dtype) -> tuple[object, object, bool]:
    """(model in eval mode, tokenizer with left padding, whether a GGUF was converted by this call)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, converted = converted_dir(ref, artifacts_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.padding_side = "left"  # the next-token logits of every row are then at position -1
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype).to(device).eval()
    return model, tokenizer, converted
