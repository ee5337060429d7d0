"""Listwise answers parsed into full permutations whatever the model wrote; RankGPT's sliding windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.system import Context
from systems.llm.permutation import parse_permutation
from systems.llm_rerank import ListwiseConfig, LLMListwise, window_spans

CASES = {
    # answer: (expected order, expected repair counts)
    "[2] > [3] > [1] > [4]": ([1, 2, 0, 3], {}),
    "[4]>[1]>[2]>[3]": ([3, 0, 1, 2], {}),
    "I cannot rank these passages.": ([0, 1, 2, 3], {"no_ids": 1}),
    "": ([0, 1, 2, 3], {"no_ids": 1}),
    "[2] > [2] > [1] > [1] > [3] > [4]": ([1, 0, 2, 3], {"duplicate_ids": 2}),
    "[3] > [1]": ([2, 0, 1, 3], {"missing_ids": 2}),
    "[9] > [0] > [2] > [1] > [3] > [4]": ([1, 0, 2, 3], {"out_of_range_ids": 2}),
    "Ranking: [3] > [1] > [4] > [2]. Passage 3 mentions 100 things.": ([2, 0, 3, 1], {"bad_format": 1}),
    "3 > 1 > 2": ([2, 0, 1, 3], {"bad_format": 1, "missing_ids": 1}),
    # cut off mid-answer: "[1" is not an id
    "[4] > [4] > [7] > [1": (
        [3, 0, 1, 2],
        {"bad_format": 1, "duplicate_ids": 1, "out_of_range_ids": 1, "missing_ids": 3},
    ),
}


@pytest.mark.parametrize("answer", list(CASES))
def test_every_answer_yields_a_full_permutation_with_counted_repairs(answer: str) -> None:
    order, repairs = CASES[answer]
    parsed = parse_permutation(answer, 4)
    assert sorted(parsed.order) == [0, 1, 2, 3]
    assert parsed.order == order
    assert dict(parsed.repairs) == repairs
    assert parsed.clean == (not repairs)


def test_windows_move_from_the_bottom_to_the_top() -> None:
    assert window_spans(100, 20, 10) == [(s, s + 20) for s in range(80, -1, -10)]
    assert window_spans(5, 20, 10) == [(0, 5)]
    # RankGPT would stop after (5, 25) and never rank the top 5; the last window is clipped to 0 instead
    assert window_spans(25, 20, 10) == [(5, 25), (0, 15)]


class ScriptedBackend:
    """Answers windows from a script (cycled), recording the prompts it saw."""

    def __init__(self, answers: list[str]):
        self.answers, self.prompts = answers, []

    def generate(self, messages: list[dict], max_new_tokens: int) -> str:
        self.prompts.append(messages)
        return self.answers[(len(self.prompts) - 1) % len(self.answers)]

    def describe(self) -> dict:
        return {"backend": "scripted"}


def test_listwise_rerank_reverses_with_a_perfect_model_and_counts_repairs(irds_home: Path, tmp_path: Path) -> None:
    dataset = DatasetRef("cranfield", "cranfield")
    candidates = Run({"1": {str(d): float(100 - d) for d in range(1, 6)}, "2": {str(d): 1.0 / d for d in range(1, 4)}})
    system = LLMListwise(ListwiseConfig(window=3, step=2), Context(tmp_path))
    # windows per query: "1" → (2,5), (0,3); "2" → (0,3)
    system._backend = ScriptedBackend(["[3] > [2] > [1]", "[1] > [1] > [5] > [2] garbage", "nothing useful"])
    result = system.rerank(dataset, candidates, 100)
    run = result.run
    # query 1: [1 2 3 4 5] → window (2,5) reversed → [1 2 5 4 3] → window (0,3) answer [1][2] (+missing 3) kept
    assert [d for d, _ in run.ranked("1")] == ["1", "2", "5", "4", "3"]
    assert [d for d, _ in run.ranked("2")] == ["1", "2", "3"]  # garbage: first-stage order kept
    meta = result.metadata["rerank"]
    assert meta["windows"] == 3 and meta["windows_clean"] == 1 and meta["windows_repaired"] == 2
    assert meta["repairs"] == {
        "no_ids": 1,
        "bad_format": 1,
        "duplicate_ids": 1,
        "out_of_range_ids": 1,
        "missing_ids": 1,
    }
    audit = result.files["llm_listwise.jsonl"].splitlines()
    assert len(audit) == 3 and '"response": "nothing useful"' in audit[2]
    # the passages reach the prompt in window order with their text
    query_text = dataset.queries()["1"]
    assert query_text in system._backend.prompts[0][1]["content"]
    assert system._backend.prompts[0][1]["content"].count("\n[") == 3

    # answers are cached per prompt: a rerun (e.g. after an interruption) asks the model nothing
    again = LLMListwise(ListwiseConfig(window=3, step=2), Context(tmp_path))
    again._backend = ScriptedBackend([])  # would fail (modulo by zero) if asked
    repeated = again.rerank(dataset, candidates, 100)
    assert repeated.run.scores == run.scores
    assert repeated.metadata["rerank"]["windows_from_cache"] == 3
    assert repeated.metadata["rerank"]["pairs_per_second"] is None  # nothing generated: no speed to report
    assert meta["windows_per_second"] > 0 and meta["pairs_per_second"] > 0
