"""Run values and TREC run files: round trip, ordering, and one-line errors for bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.core.run import Run


def test_round_trip_is_byte_stable(tmp_path: Path) -> None:
    run = Run({"q2": {"d1": 0.5, "d2": 1.25}, "q1": {"d3": -1.0}})
    a, b = tmp_path / "a.run.gz", tmp_path / "b.run.gz"
    run.write_trec(a)
    Run.read_trec(a).write_trec(b)
    assert a.read_bytes() == b.read_bytes()
    assert Run.read_trec(a).scores == run.scores
    with gzip.open(a, "rt") as f:
        lines = f.read().splitlines()
    assert lines[0] == "q1 Q0 d3 1 -1.0 irh"
    assert lines[1].split()[:4] == ["q2", "Q0", "d2", "1"]


def test_top_k_keeps_trec_order() -> None:
    run = Run({"q": {"a": 1.0, "b": 3.0, "c": 2.0, "d": 3.0}})
    assert list(run.top(2).scores["q"]) == ["d", "b"]
    assert run.depth() == 4 and run.n_pairs() == 4


@pytest.mark.parametrize(
    ("content", "fragment", "line"),
    [
        ("q1 Q0 d1 1 1.0 t\nq1 Q0 d1 2 0.5 t\n", "duplicate doc id 'd1' for query 'q1'", 2),
        ("q1 Q0 d1 1 nan t\n", "not finite", 1),
        ("q1 Q0 d1 1 high t\n", "is not a number", 1),
        ("q1 d1 1\n", "expected 6 fields", 1),
    ],
)
def test_bad_run_files(tmp_path: Path, content: str, fragment: str, line: int) -> None:
    path = tmp_path / "bad.run"
    path.write_text(content)
    with pytest.raises(HarnessError) as info:
        Run.read_trec(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert fragment in str(info.value)


def test_validate_rejects_unknown_queries_and_nan() -> None:
    with pytest.raises(HarnessError, match=r"1 query id\(s\) not in the dataset: q9"):
        Run({"q9": {"d": 1.0}}).validate({"q1"}, source="x.run")
    with pytest.raises(HarnessError, match="not finite"):
        Run({"q1": {"d": float("nan")}}).validate({"q1"})
