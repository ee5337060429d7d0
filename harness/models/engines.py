"""Inference engines for transformer encoders: ``torch`` (the checkpoint as it is) or ``onnx`` (ONNX Runtime on CPU).

With ``onnx``, a torch checkpoint is exported once with ``torch.onnx.export`` (dynamo exporter, dynamic batch and
sequence axes) and, for ``precision = "int8"``, quantised with ``onnxruntime.quantization.quantize_dynamic``
(int8 weights per output channel on the weight MatMuls, activations quantised at run time; per-tensor weights cost
MiniLM too much: sentence-vector cosine to fp32 down to 0.90). The graph is an artefact under
``artifacts/onnx/<key>/`` keyed by the model digest, the output head, the precision and the tool versions.
A checkpoint that ships an ONNX graph (e.g. an Optimum int8 export) is run as it is; its precision must match.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.core.errors import HarnessError
from harness.core.hashing import digest_value
from harness.models.resolve import ModelRef
from harness.store import STORE_FORMAT, artefact_ready, build_artefact

Engine = Literal["torch", "onnx"]
Precision = Literal["fp32", "int8"]
ENGINE_VERSION = 1  # bump when the export or quantisation recipe changes (invalidates built graphs)
EXPORT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_INT8_OPS = {"MatMulInteger", "DynamicQuantizeLinear", "QLinearMatMul", "DynamicQuantizeMatMul", "QAttention"}


def check_engine(engine: str, precision: str, dtype: str) -> None:
    """One HarnessError for a combination no engine runs."""
    if engine == "torch" and precision != "fp32":
        raise HarnessError(f"precision {precision!r} needs engine = 'onnx'", field="precision")
    if engine == "onnx" and dtype not in ("auto", "fp32"):
        raise HarnessError(f"engine 'onnx' runs fp32 or int8 (precision), not dtype {dtype!r}", field="dtype")


def shipped_onnx(path: Path) -> Path | None:
    """The ONNX graph a model folder ships (top level or onnx/), if exactly one; None if none."""
    if path.is_file():
        return None
    graphs = sorted([*path.glob("*.onnx"), *path.glob("onnx/*.onnx")])
    if len(graphs) > 1:
        names = ", ".join(str(g.relative_to(path)) for g in graphs)
        raise HarnessError(f"model folder {path} ships several ONNX graphs ({names}); keep one")
    return graphs[0] if graphs else None


def has_torch_weights(path: Path) -> bool:
    names = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
    return path.is_dir() and any((path / n).exists() for n in names)


def is_int8(graph: Path) -> bool:
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    return any(node.op_type in _INT8_OPS for node in model.graph.node)


@dataclass
class EngineOutput:
    last_hidden_state: Any = None
    logits: Any = None


class OnnxModel:
    """An ONNX Runtime session that answers like a transformers model: ``model(**batch).<head>`` as a torch tensor."""

    def __init__(self, graph: Path, config: Any, head: str, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(threads, 1)
        options.inter_op_num_threads = 1
        # no spin-waiting between ops: on a shared CPU it burns cycles others need (measured: same or less wall time)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.graph = graph
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.config = config
        self.head = head

    def __call__(self, **batch: Any) -> EngineOutput:
        import torch

        feeds = {name: np.asarray(batch[name].cpu(), dtype=np.int64) for name in self.input_names if name in batch}
        missing = [name for name in self.input_names if name not in feeds]
        if "token_type_ids" in missing:  # BERT graphs take it; a tokenizer may not return it
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
            missing.remove("token_type_ids")
        if missing:
            raise HarnessError(f"ONNX graph {self.graph.name} needs inputs {missing} the tokenizer does not give")
        (out,) = self.session.run([self.session.get_outputs()[0].name], feeds)
        return EngineOutput(**{self.head: torch.from_numpy(out)})

    def eval(self) -> OnnxModel:
        return self

    def to(self, *args: Any, **kwargs: Any) -> OnnxModel:
        return self


def tool_versions() -> dict[str, str]:
    return {pkg: version(pkg) for pkg in ("torch", "transformers", "onnx", "onnxscript", "onnxruntime")}


def onnx_graph(ref: ModelRef, torch_model: Any, tokenizer: Any, head: str, precision: str, artifacts_dir: Path) -> Path:
    """The exported (and, for int8, quantised) graph of ``torch_model``, built once under artifacts/onnx/."""
    key = digest_value(
        {
            "model": ref.digest,
            "head": head,
            "precision": precision,
            "version": ENGINE_VERSION,
            "store": STORE_FORMAT,  # graphs of format 2 have a manifest
            **tool_versions(),
        }
    )
    target = Path(artifacts_dir) / "onnx" / key
    if artefact_ready(target, "ONNX graph"):
        return target / "model.onnx"
    source = onnx_graph(ref, torch_model, tokenizer, head, "fp32", artifacts_dir) if precision == "int8" else None

    def build(tmp: Path) -> None:
        if source is None:
            export(torch_model, tokenizer, head, tmp / "model.onnx")
        else:  # int8 from the fp32 graph built (once) before it
            quantize_int8(source, tmp / "model.onnx")

    return build_artefact(target, build) / "model.onnx"


def export(torch_model: Any, tokenizer: Any, head: str, path: Path) -> None:
    """torch.onnx (dynamo) export of ``torch_model(**inputs).<head>`` with dynamic batch and sequence axes."""
    import torch

    sample = tokenizer(["a short one", "a somewhat longer second sample sentence"], padding=True, return_tensors="pt")
    names = [n for n in EXPORT_INPUTS if n in sample]

    class Head(torch.nn.Module):
        def __init__(self, model: Any):
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return getattr(self.model(input_ids=input_ids, attention_mask=attention_mask, **extra), head)

    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            Head(torch_model).eval(),
            tuple(sample[n] for n in names),
            str(path),
            dynamo=True,
            external_data=False,
            input_names=names,
            output_names=[head],
            dynamic_shapes={n: {0: batch, 1: seq} for n in names},
        )


def quantize_int8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, extra_options={"MatMulConstBOnly": True}
    )


def load_onnx(
    ref: ModelRef,
    model_dir: Path,
    precision: str,
    head: str,
    threads: int,
    artifacts_dir: Path,
    load_torch: Any,
) -> tuple[Any, OnnxModel]:
    """(tokenizer, OnnxModel) for ``model_dir``: its shipped ONNX graph if it has one, else the torch checkpoint
    (``load_torch() -> (tokenizer, model)``) exported and, for int8, quantised."""
    from transformers import AutoConfig, AutoTokenizer

    graph = shipped_onnx(model_dir)
    if graph is not None:
        shipped = "int8" if is_int8(graph) else "fp32"
        if shipped != precision:
            raise HarnessError(
                f"model {ref.source!r} ships an {shipped} ONNX graph ({graph.name}); set precision = {shipped!r}",
                field="precision",
            )
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        return tokenizer, OnnxModel(graph, AutoConfig.from_pretrained(str(model_dir)), head, threads)
    tokenizer, torch_model = load_torch()
    graph = onnx_graph(ref, torch_model, tokenizer, head, precision, artifacts_dir)
    return tokenizer, OnnxModel(graph, torch_model.config, head, threads)
