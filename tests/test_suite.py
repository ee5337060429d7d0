"""Suite parsing: every shipped suite loads; every kind of bad input is one line naming file, field and line."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.plan import plan
from harness.suite.run import run_suite
from harness.system import Reranker, StageResult, System, registered_kinds
from systems import KINDS
from systems.fusion import rrf
from tests.conftest import SUITES

GOOD = """
name = "t"
metrics = ["nDCG@10", "AP(rel=2)@1000"]
baseline = "bm25"

[datasets.cran]
id = "cranfield"

[systems.bm25]
kind = "bm25"
k1 = 1.2

[systems.rrf]
kind = "run-file"
paths = { cran = "run.txt" }
"""


@pytest.mark.parametrize("path", sorted(SUITES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_suites_load(path: Path) -> None:
    suite = load_suite(path)
    assert suite.datasets and suite.systems and suite.metrics


def test_good_suite_parses(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(GOOD)
    suite = load_suite(p)
    assert [d.name for d in suite.datasets] == ["cran"]
    assert suite.system("bm25").config.k1 == 1.2
    assert suite.system("bm25").config.b == 0.4  # default
    assert suite.system("bm25").k == 1000
    assert suite.metrics == ("nDCG@10", "AP(rel=2)@1000")
    # relative paths are relative to the suite file; the config keeps the path as written (what reports show)
    assert suite.system("rrf").config.paths["cran"] == "run.txt"
    assert suite.system("rrf").config.paths["cran"].resolved == tmp_path / "run.txt"


def test_beir_self_match_default(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(
        'metrics = ["nDCG@10"]\n[datasets.a]\nid = "beir/arguana"\n[datasets.s]\nid = "beir/scifact/test"\n'
        '[systems.bm25]\nkind = "bm25"\n'
    )
    suite = load_suite(p)
    assert suite.dataset("a").exclude_self_matches is True
    assert suite.dataset("s").exclude_self_matches is False


@dataclass(frozen=True)
class ReverseConfig:
    pass


class Reverse(System, Reranker):
    """A reranker from outside the project (kind "tests.test_suite:Reverse"): the candidates in reverse order. It
    reports the Context it was given, and keeps a file beside its run."""

    kind = "tests.test_suite:Reverse"
    Config = ReverseConfig
    dataset_parts = ("queries",)

    @classmethod
    def wants_device(cls, config: ReverseConfig) -> bool:
        return True

    def rerank(self, dataset: DatasetRef, candidates: Run, depth: int) -> StageResult:
        reversed_run = Run(
            {q: {d: float(i) for i, (d, _) in enumerate(candidates.ranked(q))} for q in candidates.scores}
        )
        context = {"device": self.context.device, "threads": self.context.threads}
        return StageResult(reversed_run, {"context": context}, {"seen.txt": f"{candidates.n_pairs()} candidates\n"})


PIPELINE = """
metrics = ["nDCG@10"]
[datasets.cran]
id = "cranfield"

[systems.rerank]   # declared before its first stage: the suite puts it after
kind = "tests.test_suite:Reverse"
first_stage = "imported"
depth = 5

[systems.fused]
kind = "rrf"
inputs = ["imported", "rerank"]
k = 8

[systems.imported]
kind = "run-file"
paths = { cran = "run.txt" }
"""


def test_pipeline_runs_in_dependency_order_through_the_system_contract(
    irds_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.toml").write_text(PIPELINE)
    store = Store(tmp_path / "results")
    suite = load_suite(tmp_path / "s.toml", digest_dir=str(store.digests_dir))
    queries = list(suite.dataset("cran").queries())
    # an imported first stage over the real Cranfield queries: docs 1..10, scores 10..1
    (tmp_path / "run.txt").write_text(
        "".join(f"{q} Q0 {d} {d} {11 - d} imported\n" for q in queries for d in range(1, 11))
    )
    assert [(s.name, s.role, s.upstream) for s in suite.systems] == [
        ("imported", "retriever", ()),
        ("rerank", "reranker", ("imported",)),
        ("fused", "fusion", ("imported", "rerank")),
    ]
    jobs = {job.spec.name: job for job in plan(suite, store)}
    assert jobs["rerank"].upstream == (jobs["imported"].key,)
    assert jobs["fused"].upstream == (jobs["imported"].key, jobs["rerank"].key)

    monkeypatch.setenv("IRH_DEVICES", "accel:0")  # the reranker wants a device: the runner hands it one
    outcomes = run_suite(suite, results=store).outcomes
    assert [(o.label, o.status) for o in outcomes] == [
        ("cran/imported", "computed"),
        ("cran/rerank", "computed"),
        ("cran/fused", "computed"),
    ]
    imported, reranked, fused = (store.load_run(jobs[name].key) for name in ("imported", "rerank", "fused"))
    q = queries[0]
    assert [d for d, _ in reranked.ranked(q)] == ["5", "4", "3", "2", "1"]  # the top 5 (depth), reversed
    assert fused.scores[q] == pytest.approx(rrf([imported, reranked]).top(8).scores[q])
    assert len(fused.scores[q]) == 8
    meta = store.meta("runs", jobs["rerank"].key)
    assert meta["device"] == "accel:0" and meta["context"] == {"device": "accel:0", "threads": 2}
    assert meta["upstream"] == [jobs["imported"].key]
    assert (store.run_files_dir(jobs["rerank"].key) / "seen.txt").read_text() == f"{5 * len(queries)} candidates\n"
    assert "device" not in store.meta("runs", jobs["fused"].key)  # fusion wants no device


def test_unknown_system_kinds_name_file_and_field(tmp_path: Path) -> None:
    for kind, fragment in [
        ("bm52", "unknown system kind 'bm52' (known: bm25, colbert,"),
        ("tests.nowhere:Reverse", "cannot load system class 'tests.nowhere:Reverse'"),
        ("tests.test_suite:ReverseConfig", "tests.test_suite:ReverseConfig is not a system"),
    ]:
        (tmp_path / "s.toml").write_text(GOOD.replace('kind = "bm25"', f'kind = "{kind}"'))
        with pytest.raises(HarnessError) as info:
            load_suite(tmp_path / "s.toml")
        assert str(info.value).startswith(f"{tmp_path / 's.toml'}:10: systems.bm25.kind: {fragment}"), info.value


def test_fusion_weights_must_match_its_inputs(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(PIPELINE.replace("k = 8", "k = 8\nweights = [1.0, 2.0, 3.0]"))
    with pytest.raises(HarnessError) as info:
        load_suite(tmp_path / "s.toml")
    assert str(info.value) == f"{tmp_path / 's.toml'}:15: systems.fused.weights: 3 weights for 2 inputs"


def test_system_kinds_come_from_the_entry_point_not_from_an_import() -> None:
    assert registered_kinds() == KINDS
    code = "import sys, harness.suite.runner, harness.train.trainer; print('systems' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # the harness loads no family until a suite names one


BAD = [
    # (replace this, with this, expected fragments of the one-line error)
    ("k1 = 1.2", "k1 = 1.2\nk1 = 3", ["malformed TOML", ":12:"]),
    ("k1 = 1.2", "k1 = 1.2\nbogus = 3", ["systems.bm25.bogus", "unknown parameter", ":12:"]),
    ('name = "t"', 'name = "t"\ncolour = "red"', ["colour", "unknown key"]),
    ('id = "cranfield"', 'id = "cranfeld"', ["datasets.cran.id", "unknown ir_datasets id 'cranfeld'", ":7:"]),
    ('kind = "bm25"', 'kind = "bm52"', ["systems.bm25.kind", "unknown system kind 'bm52'", ":10:"]),
    ('"nDCG@10"', '"nDGC@10"', ["metrics[0]", "unknown metric 'nDGC@10'", ":3:"]),
    ("k1 = 1.2", 'k1 = "high"', ["systems.bm25.k1", "expected a number", ":11:"]),
    ('baseline = "bm25"', 'baseline = "dense"', ["baseline", "not a system of this suite"]),
    ("k1 = 1.2", 'k1 = 1.2\nfirst_stage = "rrf"', ["systems.bm25.first_stage", "only rerankers"]),
    ("[systems.bm25]", '[significance]\ntest = "z-test"\n[systems.bm25]', ["significance.test", "unknown test"]),
]


@pytest.mark.parametrize(("old", "new", "fragments"), BAD, ids=[b[2][0] for b in BAD])
def test_bad_suite_one_line_error(tmp_path: Path, old: str, new: str, fragments: list[str]) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(HarnessError) as info:
        load_suite(p)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(p))
    for fragment in fragments:
        assert fragment in message, message


def test_missing_suite_file(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="suite file not found"):
        load_suite(tmp_path / "nope.toml")
