"""The training loop: fixed seeds, gradient accumulation, atomic checkpoints, resume, and a model card.

RESULTS/models/<name>/
    checkpoints/step-000100/state.pt   model + optimizer + scheduler + torch RNG + step + loss history (atomic)
    model/                             the final model: a ``path`` model for suites (``model_card.md`` inside)
    model_card.json                    objective, data, steps, seed, teacher, losses, metrics, digest of model/
    train_log.tsv                      step, loss, learning rate, seconds (rewritten at every checkpoint)

A checkpoint is written to a temp folder and renamed into place, so a killed run leaves the previous one intact;
``irh train`` on the same config resumes from the newest. Batches are a pure function of (seed, step) and the torch
RNG (dropout) is restored, so an interrupted run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from harness.core.errors import HarnessError
from harness.models.resolve import resolve_model
from harness.store import Store, atomic_folder, check_trained_model, write_json, write_text_atomic
from harness.train.card import card_markdown, evaluate_model, model_card
from harness.train.config import TrainConfig
from harness.train.data import GroupSampler, TrainingData, prepare
from harness.train.losses import group_loss, info_nce
from harness.train.models import build_model

log = logging.getLogger("irh")

CHECKPOINT_FORMAT = 1


@dataclass
class TrainResult:
    status: str  # "trained" | "cached" | "stopped"
    model_dir: Path
    start_step: int
    end_step: int
    card: dict = field(default_factory=dict)


def output_dir(config: TrainConfig, store: Store) -> Path:
    return store.root / "models" / config.name


# ---------------------------------------------------------------- checkpoints
def checkpoints(out: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete checkpoint, oldest first."""
    found = []
    for p in (out / "checkpoints").glob("step-*"):
        if p.is_dir() and (p / "state.pt").exists() and p.name[5:].isdigit():
            found.append((int(p.name[5:]), p))
    return sorted(found)


def save_checkpoint(out: Path, step: int, state: dict, keep: int) -> Path:
    final = out / "checkpoints" / f"step-{step:06d}"
    # the same step again (a re-run after a crash right after saving): replace it
    atomic_folder(final, lambda tmp: torch.save(state, tmp / "state.pt"), replace=True)
    for _, old in checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: Path) -> dict:
    return torch.load(path / "state.pt", map_location="cpu", weights_only=True)


# ---------------------------------------------------------------- the loop
def _autocast(precision: str, device: str):
    on_gpu = device.startswith("cuda")
    bf16_ok = on_gpu and torch.cuda.is_bf16_supported()
    if precision == "bf16" and not bf16_ok:
        raise HarnessError("precision 'bf16' needs a GPU that supports it (on CPU, bf16 is far slower: use fp32)")
    if bf16_ok and precision in ("auto", "bf16"):
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16), "bf16 autocast"
    return contextlib.nullcontext, "fp32"


def _optimizer(model: torch.nn.Module, config: TrainConfig):
    t = config.train
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=t.lr
    )

    def schedule(step: int) -> float:  # linear warm-up, then linear decay to 0 at the last step
        if t.warmup_steps and step < t.warmup_steps:
            return (step + 1) / t.warmup_steps
        return max(0.0, (t.steps - step) / max(1, t.steps - t.warmup_steps))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def train(
    config: TrainConfig,
    store: Store,
    *,
    max_steps: int | None = None,
    evaluate: bool = True,
    progress: bool = True,
) -> TrainResult:
    """Train (or resume, or find done) the model of a config. ``max_steps``: at most this many steps now, then a
    checkpoint and stop (re-run to go on)."""
    out = output_dir(config, store)
    final = out / "model"
    card_path = out / "model_card.json"
    card = json.loads(card_path.read_text()) if card_path.exists() else None
    if card is not None and card.get("training_digest") != config.training_digest:
        raise HarnessError(
            f"{out} holds a model trained from a different config; remove that folder or rename the config",
            file=str(config.path),
        )
    evaluated = (
        not evaluate or config.eval is None or (card is not None and card.get("eval_digest") == config.eval_digest)
    )
    if card is not None and final.exists() and evaluated:
        check_trained_model(out)
        log.info("train %s: done already (%s, digest %s)", config.name, final, card.get("digest", "?")[:16])
        return TrainResult("cached", final, card["steps"], card["steps"], card)

    ckpts = checkpoints(out)
    state = load_checkpoint(ckpts[-1][1]) if ckpts else None
    if state is not None and state.get("training_digest") != config.training_digest:
        raise HarnessError(
            f"{ckpts[-1][1]} was written by a different config; remove {out} or rename the config",
            file=str(config.path),
        )
    data = prepare(config, store)
    backbone = resolve_model(config.model.backbone)
    first = 0 if state is None else int(state["step"])
    history: list[list[float]] = [] if state is None else [list(h) for h in state["history"]]
    if not final.exists():
        reached, history = _loop(config, data, backbone, out, state, max_steps, progress)
        if reached < config.train.steps:
            return TrainResult("stopped", out, first, reached)
    elif not history:
        raise HarnessError(f"{final} exists but no checkpoint records how it was trained; remove {out} to retrain")

    metrics = evaluate_model(config, store, final) if evaluate and config.eval is not None else None
    card = model_card(config, data, backbone, final, history, metrics)
    write_json(card_path, card)
    write_text_atomic(final / "model_card.md", card_markdown(card))
    log.info("train %s: model %s (digest %s)", config.name, final, card["digest"][:16])
    return TrainResult("trained", final, first, config.train.steps, card)


def _loop(
    config: TrainConfig,
    data: TrainingData,
    backbone,
    out: Path,
    state: dict | None,
    max_steps: int | None,
    progress: bool,
) -> tuple[int, list[list[float]]]:
    """Run optimizer steps from the checkpoint (or 0) to the end (or ``max_steps`` more); save the final model when
    done. Returns (step reached, loss history [[step, loss, lr, seconds], ...])."""
    from harness.models.encoding import select_device

    t, m = config.train, config.model
    torch.set_num_threads(t.threads)
    random.seed(t.seed)
    np.random.seed(t.seed)
    torch.manual_seed(t.seed)  # the new head / projection is initialised from this
    device = select_device(t.device)
    autocast, precision = _autocast(t.precision, device)
    model = build_model(m.architecture, backbone, m.max_length, m.query_maxlen, m.dim).to(device)
    optimizer, scheduler = _optimizer(model, config)
    step, history, seconds = 0, [], 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        if device.startswith("cuda") and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"])
        step, history = int(state["step"]), [list(h) for h in state["history"]]
        seconds = history[-1][3] if history else 0.0
        log.info("train %s: resuming from step %d (checkpoint)", config.name, step)
    else:
        log.info("train %s: starting at step 0 (%s, %s on %s)", config.name, t.objective, precision, device)
    sampler = GroupSampler(data, config.data.negatives, t.batch_size, t.seed)
    model.train()
    stop = t.steps if max_steps is None else min(t.steps, step + max_steps)
    bar = tqdm(total=t.steps, initial=step, desc=f"train {config.name}", unit="step", disable=not progress)
    began = time.perf_counter() - seconds
    here, here_began = step, time.perf_counter()  # rate of this process
    window: list[float] = []
    while step < stop:
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for micro in range(t.accumulation):
            batch = sampler.batch(step * t.accumulation + micro)
            with autocast():
                loss = _loss(model, batch, config, device)
            (loss / t.accumulation).backward()
            total += float(loss.detach()) / t.accumulation
        if t.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.max_grad_norm)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        step += 1
        history.append([step, total, lr, time.perf_counter() - began])
        window.append(total)
        bar.update(1)
        bar.set_postfix(loss=f"{total:.4f}")
        if step % t.log_every == 0 or step == stop:
            rate = (step - here) / max(time.perf_counter() - here_began, 1e-9)
            log.info(
                "train %s: step %d/%d loss %.4f (mean of last %d) lr %.2e %.3f steps/s",
                config.name,
                step,
                t.steps,
                float(np.mean(window)),
                len(window),
                lr,
                rate,
            )
            window = []
        if step % t.checkpoint_every == 0 or step == stop:
            rng = {"torch": torch.get_rng_state()}
            if device.startswith("cuda"):
                rng["cuda"] = torch.cuda.get_rng_state()
            snapshot = {
                "format": CHECKPOINT_FORMAT,
                "training_digest": config.training_digest,
                "step": step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng,
                "history": history,
            }
            path = save_checkpoint(out, step, snapshot, t.keep_checkpoints)
            write_text_atomic(out / "train_log.tsv", _tsv(history))
            log.info("train %s: checkpoint %s", config.name, path)
    bar.close()
    if step >= t.steps:
        model.eval()
        atomic_folder(out / "model", model.save)
    return step, history


def _loss(model: torch.nn.Module, batch, config: TrainConfig, device: str) -> torch.Tensor:
    t = config.train
    scores, every = model(batch.queries, batch.docs)
    teacher = None if batch.teacher is None else torch.from_numpy(batch.teacher).to(scores.device)
    loss = group_loss(t.objective, scores, teacher, t.temperature)
    if t.in_batch_negatives and every is not None:
        g = scores.shape[1]
        positive = torch.arange(scores.shape[0], device=every.device) * g
        loss = loss + t.in_batch_weight * info_nce(every, t.temperature, positive)
    return loss


def _tsv(history: list[list[float]]) -> str:
    rows = ["step\tloss\tlr\tseconds"] + [f"{int(s)}\t{loss:.6f}\t{lr:.3e}\t{sec:.1f}" for s, loss, lr, sec in history]
    return "\n".join(rows) + "\n"
