"""Training objectives: small pure functions of score tensors.

Scores come in groups: ``scores`` is (queries, group) with the positive in column 0 and negatives after it, unless a
``positive`` index per row says otherwise (in-batch negatives: every document of the batch is a column).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def pointwise_bce(scores: Any, labels: Any | None = None) -> Any:
    """Binary cross-entropy on each (query, doc) logit; labels default to 1 for column 0 and 0 elsewhere."""
    if labels is None:
        labels = scores.new_zeros(scores.shape)
        labels[:, 0] = 1.0
    return F.binary_cross_entropy_with_logits(scores, labels.to(scores.dtype))


def margin_mse(scores: Any, teacher: Any) -> Any:
    """MarginMSE (Hofstätter et al., 2020): mean squared error between the student's margins s(q, d⁺) − s(q, d⁻ᵢ)
    and the teacher's margins, over every (positive, negative) pair of every group."""
    student = scores[:, :1] - scores[:, 1:]
    target = teacher[:, :1] - teacher[:, 1:]
    return ((student - target.to(student.dtype)) ** 2).mean()


def info_nce(scores: Any, temperature: float = 1.0, positive: Any | None = None) -> Any:
    """InfoNCE / listwise softmax cross-entropy: −log softmax(s/τ)[positive], averaged over rows."""
    if positive is None:
        positive = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
    return F.cross_entropy(scores / temperature, positive)


def kl_distillation(scores: Any, teacher: Any, temperature: float = 1.0) -> Any:
    """KL(teacher ‖ student) between the softmax distributions over each row's candidates (ColBERTv2-style
    distillation), averaged over rows: Σⱼ p_t,j (log p_t,j − log p_s,j)."""
    log_student = (scores / temperature).log_softmax(dim=-1)
    log_teacher = (teacher.to(scores.dtype) / temperature).log_softmax(dim=-1)
    return (log_teacher.exp() * (log_teacher - log_student)).sum(dim=-1).mean()


def group_loss(objective: str, scores: Any, teacher: Any | None, temperature: float) -> Any:
    """The objective named in a training config, on (queries, 1 + negatives) scores."""
    if objective == "pointwise":
        return pointwise_bce(scores)
    if objective == "infonce":
        return info_nce(scores, temperature)
    if teacher is None:
        raise ValueError(f"objective {objective!r} needs teacher scores")
    if objective == "marginmse":
        return margin_mse(scores, teacher)
    if objective == "kl":
        return kl_distillation(scores, teacher, temperature)
    raise ValueError(f"unknown objective {objective!r}")
