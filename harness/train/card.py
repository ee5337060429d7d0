"""A trained model's evaluation (as a system of the harness, on the eval dataset) and its model card."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.provenance import hardware, library_versions, now
from harness.data.datasets import DatasetRef, default_excludes_self_matches
from harness.models.resolve import model_digest
from harness.store import Store
from harness.suite.config import Pipeline, SystemSpec
from harness.suite.run import run_suite
from harness.system import build_config, system_class
from harness.train.config import TrainConfig
from harness.train.data import TrainingData

log = logging.getLogger("irh")


def evaluate_model(config: TrainConfig, store: Store, model_dir: Path) -> dict[str, Any]:
    """The trained model as a system on the eval dataset (reranking eval.first_stage, or retrieving for colbert),
    through the harness: runs are cached store entries; returns mean metrics of every system in the eval suite."""
    ev = config.eval
    assert ev is not None
    dataset = DatasetRef("eval", ev.dataset, default_excludes_self_matches(ev.dataset), str(store.digests_dir))
    kind = "cross-encoder" if config.model.architecture == "cross-encoder" else "colbert"
    cls = system_class(kind)
    params = {"model": model_source(model_dir), **ev.params}
    spec_config = build_config(cls, params, "eval.params")
    if cls.role == "reranker":
        spec = SystemSpec(config.name, kind, cls.role, spec_config, first_stage=ev.first_stage, depth=ev.depth)
    else:
        spec = SystemSpec(config.name, kind, cls.role, spec_config, k=max(ev.depth, 100))
    upstream = config.closure([ev.first_stage]) if ev.first_stage else []
    metrics = ev.metrics  # canonical labels, parsed once by the training config
    results = run_suite(Pipeline((dataset,), (*upstream, spec), metrics), results=store)
    table = results.nested().get("eval", {})
    log.info("train %s: eval on %s: %s", config.name, ev.dataset, json.dumps(table))
    return {
        "dataset": ev.dataset,
        "first_stage": ev.first_stage,
        "depth": ev.depth,
        "systems": table,
        "runs": {name: info["run_key"] for (_, name), info in results.info.items()},
    }


def model_source(model_dir: Path) -> str:
    """How a suite run from here names the model (relative to the working directory when inside it): the same
    string gives the same system fingerprint, so the suite's run of the model is this evaluation's cached run."""
    relative = os.path.relpath(model_dir.resolve())
    return str(model_dir.resolve()) if relative.startswith("..") else relative


def _loss_summary(history: list[list[float]], points: int = 20) -> dict[str, Any]:
    losses = np.array([h[1] for h in history])
    n = len(losses)
    tenth = max(1, n // 10)
    width = max(1, n // points)
    curve = [[int(history[min(i + width, n) - 1][0]), float(losses[i : i + width].mean())] for i in range(0, n, width)]
    return {
        "first_10pct_mean": float(losses[:tenth].mean()),
        "last_10pct_mean": float(losses[-tenth:].mean()),
        "curve": curve,  # [last step of window, mean loss over the window]
    }


def model_card(
    config: TrainConfig, data: TrainingData, backbone, model_dir: Path, history: list, metrics: dict | None
) -> dict[str, Any]:
    t, m = config.train, config.model
    seconds = history[-1][3] if history else 0.0
    return {
        "name": config.name,
        "description": config.description,
        "config": str(config.path),
        "training_digest": config.training_digest,
        "eval_digest": config.eval_digest if metrics is not None else None,
        "architecture": m.architecture,
        "backbone": {"source": backbone.source, "digest": backbone.digest},
        "model": {"max_length": m.max_length, "query_maxlen": m.query_maxlen, "dim": m.dim}
        if m.architecture == "colbert"
        else {"max_length": m.max_length},
        "objective": t.objective,
        "temperature": t.temperature if t.objective in ("infonce", "kl") or t.in_batch_negatives else None,
        "in_batch_negatives": t.in_batch_negatives,
        "data": {**data.info, "negatives_per_group": config.data.negatives},
        "teacher": data.info.get("teacher") or None,
        "steps": t.steps,
        "batch_size": t.batch_size,
        "accumulation": t.accumulation,
        "lr": t.lr,
        "warmup_steps": t.warmup_steps,
        "weight_decay": t.weight_decay,
        "seed": t.seed,
        "loss": _loss_summary(history),
        "train_seconds": seconds,
        "steps_per_second": len(history) / seconds if seconds > 0 else None,
        "metrics": metrics,
        "model_dir": str(model_dir),
        "digest": model_digest(model_dir),
        "created": now(),
        "versions": library_versions(),
        "hardware": hardware(),
    }


def card_markdown(card: dict) -> str:
    teacher = card["teacher"]
    teacher_text = "none"
    if teacher:
        names = ", ".join(f"{x['system']} ({x['kind']}, {x['mode']})" for x in teacher)
        teacher_text = f"{names}; {card['data']['teacher_combination']}"
    data = card["data"]
    lines = [
        f"# {card['name']}",
        "",
        card["description"],
        "",
        f"- architecture: {card['architecture']}, backbone `{card['backbone']['source']}`",
        f"- objective: {card['objective']}" + (f" (temperature {card['temperature']})" if card["temperature"] else ""),
        f"- data: {data['dataset']}, {data['examples']} queries; negatives from {data['first_stage']['system']} "
        f"ranks {data['ranks'][0]}–{data['ranks'][1]}, {data['negatives_per_group']} per group",
        f"- teacher: {teacher_text}",
        f"- steps: {card['steps']} × {card['batch_size'] * card['accumulation']} queries, lr {card['lr']}, "
        f"seed {card['seed']}",
        f"- loss: {card['loss']['first_10pct_mean']:.4f} (first 10% of steps) → "
        f"{card['loss']['last_10pct_mean']:.4f} (last 10%)",
        f"- digest: `{card['digest']}`",
    ]
    if card["metrics"]:
        ev = card["metrics"]
        for system, values in ev["systems"].items():
            shown = ", ".join(f"{k} {v:.4f}" for k, v in values.items())
            lines.append(f"- {ev['dataset']} / {system}: {shown}")
    return "\n".join(lines) + "\n"
