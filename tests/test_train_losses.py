"""Training objectives against hand-computed values, and training-config validation (no data, no models)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from harness.core.errors import HarnessError
from harness.train.config import load_train_config
from harness.train.losses import group_loss, info_nce, kl_distillation, margin_mse, pointwise_bce
from tests.conftest import SUITES

T = torch.tensor


def test_pointwise_bce_by_hand() -> None:
    # positive logit 2 (label 1): log(1 + e^-2); negative logit -1 (label 0): log(1 + e^-1); mean of the two
    expected = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))) / 2
    assert pointwise_bce(T([[2.0, -1.0]])).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.220095, abs=1e-6)


def test_margin_mse_by_hand() -> None:
    # student margins (3-1, 3-2) = (2, 1); teacher margins (1-0, 1-2) = (1, -1); errors (1, 2): (1 + 4) / 2
    assert margin_mse(T([[3.0, 1.0, 2.0]]), T([[1.0, 0.0, 2.0]])).item() == pytest.approx(2.5)
    # a constant shift of either side's scores changes no margin
    assert margin_mse(T([[3.0, 1.0, 2.0]]) + 7, T([[1.0, 0.0, 2.0]]) - 3).item() == pytest.approx(2.5)


def test_info_nce_by_hand() -> None:
    # -log(e^1 / (e^1 + e^0 + e^0)) = log(1 + 2/e)
    assert info_nce(T([[1.0, 0.0, 0.0]])).item() == pytest.approx(math.log(1 + 2 / math.e), abs=1e-6)
    # temperature 0.5 doubles the logits: log(1 + 2 e^-2)
    assert info_nce(T([[1.0, 0.0, 0.0]]), 0.5).item() == pytest.approx(math.log(1 + 2 * math.exp(-2)), abs=1e-6)
    # in-batch form: the positive of each row named explicitly; mean of log(1 + e^-1) and log(1 + e^-2)
    value = info_nce(T([[0.0, 1.0], [2.0, 0.0]]), positive=T([1, 0])).item()
    assert value == pytest.approx((math.log1p(math.exp(-1)) + math.log1p(math.exp(-2))) / 2, abs=1e-6)


def test_kl_distillation_by_hand() -> None:
    # teacher softmax (3/4, 1/4), student (1/2, 1/2): 3/4 log(3/2) + 1/4 log(1/2)
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert kl_distillation(T([[0.0, 0.0]]), T([[math.log(3.0), 0.0]])).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.130812, abs=1e-6)
    # same distribution (scores shifted by a constant): no divergence
    scores = T([[0.3, -1.2, 2.0]])
    assert kl_distillation(scores, scores + 5).item() == pytest.approx(0.0, abs=1e-6)


def test_losses_have_gradients_toward_the_positive() -> None:
    for objective in ("pointwise", "marginmse", "infonce", "kl"):
        scores = T([[0.0, 0.0, 0.0]], requires_grad=True)
        group_loss(objective, scores, T([[2.0, 0.0, -1.0]]), 1.0).backward()
        assert scores.grad[0, 0] < 0, objective  # descending the loss raises the positive's score


def test_relative_objectives_need_a_teacher() -> None:
    with pytest.raises(ValueError, match="teacher"):
        group_loss("marginmse", T([[1.0, 0.0]]), None, 1.0)


# ---------------------------------------------------------------- configs
def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def _tiny_with(*replacements: tuple[str, str]) -> str:
    text = (SUITES / "train" / "tiny.toml").read_text()
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def test_shipped_configs_parse_and_share_training_data() -> None:
    configs = {p.stem: load_train_config(p) for p in sorted((SUITES / "train").glob("*.toml"))}
    assert {"scifact-ce-pointwise", "scifact-ce-marginmse", "scifact-ce-infonce", "scifact-colbert", "tiny"} <= set(
        configs
    )
    ce = [configs[f"scifact-ce-{o}"] for o in ("pointwise", "marginmse", "infonce")]
    assert {c.train.objective for c in ce} == {"pointwise", "marginmse", "infonce"}
    # only the objective differs: same data (so the same cached negatives), steps, batches and seed
    assert len({(c.data, c.model, c.train.steps, c.train.batch_size, c.train.seed, c.train.lr) for c in ce}) == 1
    assert configs["scifact-colbert"].model.architecture == "colbert"
    assert configs["scifact-colbert"].model.dim == 128


@pytest.mark.parametrize(
    ("replacements", "message", "line"),
    [
        ([('objective = "infonce"', 'objective = "listnet"')], "train.objective: must be one of", 23),
        ([('objective = "infonce"', 'objective = "marginmse"'), ('["bm25"]', "[]")], "needs teacher scores", 23),
        ([('teacher = ["bm25"]', 'teacher = ["bm25"]\nteachers = ["x"]')], "data.teachers: unknown key", 20),
        ([('first_stage = "bm25"', 'first_stage = "dense"')], "'dense' is not a system of this config", 16),
        ([("ranks = [1, 30]", "ranks = [1, 300]")], "ranks only 30", 17),
        ([("ranks = [1, 30]", "ranks = [5, 2]")], "ranks must be [first, last]", 14),
        ([("steps = 24", "steps = 0")], "steps must be", 22),
        ([('architecture = "cross-encoder"', 'architecture = "dual"')], "model.architecture: must be one of", 8),
        ([("in_batch_negatives = false", "in_batch_negatives = true")], "in-batch negatives are for colbert", 34),
        ([('kind = "bm25"', 'kind = "bm26"')], "unknown system kind", 37),
        ([('name = "tiny"', 'name = "../x"')], "names the output folder", 4),
        ([('teacher = ["bm25"]', 'teacher = ["bm25", "bm25"]')], "listed twice", 19),
        ([("steps = 24", "steps = 24\nsteps = 25")], "malformed TOML", 25),
    ],
)
def test_bad_config_is_one_line_naming_file_field_and_line(
    tmp_path: Path, replacements: list[tuple[str, str]], message: str, line: int
) -> None:
    path = _write(tmp_path, _tiny_with(*replacements))
    with pytest.raises(HarnessError) as e:
        load_train_config(path)
    text = str(e.value)
    assert "\n" not in text and message in text and str(path) in text, text
    assert e.value.line == line, text


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="training config not found"):
        load_train_config(tmp_path / "absent.toml")


def test_reranker_teacher_without_first_stage_reranks_the_candidates(tmp_path: Path) -> None:
    text = _tiny_with(('teacher = ["bm25"]', 'teacher = ["bm25", "ce"]'))
    text += '\n[systems.ce]\nkind = "cross-encoder"\nmodel = "x"\n'
    config = load_train_config(_write(tmp_path, text))
    assert config.candidate_teachers == ("ce",)
    assert config.systems["ce"].first_stage == "candidates"
    assert [s.name for s in config.closure(["bm25", "ce"])] == ["bm25", "ce"]
