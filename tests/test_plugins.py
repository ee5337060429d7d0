"""Systems from outside the project (issue 22, acceptance 5): the README's plugin, written to a package by the test,
runs in a suite named by import path and registered through a real entry point (a dist-info on the path, no install);
its cache key covers the modules it imports, so editing a helper recomputes it and editing anything else does not."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
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
from harness.system import (
    Reranker,
    StageResult,
    System,
    code_digest,
    code_modules,
    registered_kinds,
    system_class,
)
from systems import KINDS

ROOT = Path(__file__).resolve().parents[1]

SUITE = """
metrics = ["nDCG@10", "AP(rel=2)"]
[datasets.dl19]
id = "msmarco-passage/trec-dl-2019/judged"

[systems.bm25]  # ir_datasets' scoreddocs of DL19: Pyserini's BM25 top 100
kind = "scoreddocs"
"""


def readme_plugin() -> dict[str, str]:
    """The README's python blocks of "Your own system", keyed by the file each names on its first line."""
    section = (ROOT / "README.md").read_text().split("## Your own system", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    return {re.match(r"# (\S+\.py)", block).group(1): block for block in blocks}


def readme_suite_table(kind: str) -> str:
    """The README's suite table for the plugin, with ``kind`` as given (import path or registered kind)."""
    section = (ROOT / "README.md").read_text().split("## Your own system", 1)[1].split("\n## ", 1)[0]
    (table,) = re.findall(r"```toml\n(.*?)```", section, re.S)
    return re.sub(r'kind = "[^"]*"', f'kind = "{kind}"', table, count=1)


def write_plugin(root: Path) -> Path:
    """mypkg as the README shows it, its KINDS, a module nothing imports, and a dist-info registering KINDS under the
    irharness.systems entry-point group (what `pip install` of the README's pyproject would write)."""
    files = readme_plugin()
    assert sorted(files) == ["mypkg/rankers.py", "mypkg/text.py"]
    (root / "mypkg").mkdir(parents=True)
    for rel, text in files.items():
        (root / rel).write_text(text)
    (root / "mypkg" / "__init__.py").write_text('KINDS = {"coverage": "mypkg.rankers:Coverage"}\n')
    (root / "mypkg" / "unused.py").write_text("def unused() -> int:\n    return 1\n")
    dist = root / "mypkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mypkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[irharness.systems]\nmypkg = mypkg:KINDS\n")
    return root


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The README plugin importable in this process (by import path; the entry-point registry is not re-read)."""
    root = write_plugin(tmp_path / "plugin")
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        del sys.modules[name]


def write_suite(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(SUITE + "\n" + readme_suite_table(kind))
    return path


def keys(suite_path: Path, store: Store) -> dict[str, str]:
    suite = load_suite(suite_path, digest_dir=str(store.digests_dir))
    return {job.spec.name: job.key for job in plan(suite, store)}


def test_readme_plugin_named_by_import_path_runs_in_a_suite(irds_home: Path, plugin: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "results")
    suite = load_suite(write_suite(tmp_path, "mypkg.rankers:Coverage"), digest_dir=str(store.digests_dir))
    results = run_suite(suite, results=store)
    assert [(o.label, o.status) for o in results.outcomes] == [("dl19/bm25", "computed"), ("dl19/coverage", "computed")]

    jobs = {job.spec.name: job for job in plan(suite, store)}
    first, reranked = (store.load_run(jobs[name].key) for name in ("bm25", "coverage"))
    assert store.meta("runs", jobs["coverage"].key)["weight"] == 2.0  # the StageResult's metadata, stored
    # the README's rule, computed here: BM25's top 100 + 2 × the share of query terms in the document
    dataset: DatasetRef = suite.dataset("dl19")
    queries, top = dataset.queries(), first.top(100)
    texts = dataset.doc_texts(sorted({d for docs in top.scores.values() for d in docs}))
    moved = 0
    for qid, docs in top.scores.items():
        q = set(queries[qid].lower().split())
        expected = {d: s + 2.0 * len(q & set(texts[d].lower().split())) / len(q) for d, s in docs.items()}
        assert reranked.scores[qid] == pytest.approx(expected, abs=1e-9), qid
        moved += [d for d, _ in reranked.ranked(qid)] != [d for d, _ in top.ranked(qid)]
    assert len(top.scores) == 43 and moved == 43  # it reranked every query
    table = results.to_frame().set_index("system")
    assert table.loc["bm25", "nDCG@10"] == pytest.approx(0.5058, abs=1e-4)  # the published BM25 figure
    assert 0 < table.loc["coverage", "nDCG@10"] <= 1 and table.loc["coverage", "nDCG@10"] != 0.5058


def test_editing_a_module_the_plugin_imports_changes_its_key(irds_home: Path, plugin: Path, tmp_path: Path) -> None:
    from mypkg.rankers import Coverage

    assert [m for m in code_modules(Coverage) if m.startswith("mypkg")] == ["mypkg.rankers", "mypkg.text"]
    store, suite_path = Store(tmp_path / "results"), write_suite(tmp_path, "mypkg.rankers:Coverage")
    before = keys(suite_path, store)

    with (plugin / "mypkg" / "unused.py").open("a") as f:  # nothing imports it
        f.write("\n\ndef also_unused() -> int:\n    return 2\n")
    with (plugin / "mypkg" / "__init__.py").open("a") as f:  # the list of kinds, executed but not named by the import
        f.write('KINDS["coverage-2"] = "mypkg.rankers:Coverage"\n')
    assert keys(suite_path, store) == before

    text = plugin / "mypkg" / "text.py"
    text.write_text(text.read_text().replace("text.lower().split()", "text.casefold().split()"))
    after = keys(suite_path, store)
    assert after["coverage"] != before["coverage"]
    assert after["bm25"] == before["bm25"]  # BM25 does not run the plugin's code


def test_readme_plugin_registered_through_an_entry_point_runs_in_irh(irds_home: Path, plugin: Path, tmp_path) -> None:
    """`irh run` in a fresh process finds kind "coverage" through the dist-info's entry point; the run it stores is
    the one the import-path form addresses (same class, same key)."""
    store = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(ROOT)]), "IR_DATASETS_HOME": str(irds_home)}
    suite_path = write_suite(tmp_path, "coverage")

    def irh(*args: str) -> str:
        command = [sys.executable, "-m", "harness.cli", "-q", "--results", str(store), *args]
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    irh("run", str(suite_path))
    shown = json.loads(irh("show", str(suite_path), "--format", "json"))["dl19"]
    assert set(shown) == {"bm25", "coverage"}

    by_path = load_suite(write_suite(tmp_path, "mypkg.rankers:Coverage"), digest_dir=str(Store(store).digests_dir))
    results = run_suite(by_path, results=store)
    assert [o.status for o in results.outcomes] == ["cached", "cached"]
    table = results.to_frame().set_index("system")
    assert table.loc["coverage", "nDCG@10"] == pytest.approx(shown["coverage"]["nDCG@10"], abs=1e-12)


@pytest.mark.parametrize(
    ("init", "message"),
    [
        ("raise ImportError('no module named torchx')", "cannot load entry point mypkg = mypkg:KINDS "
         "(irharness.systems): ImportError: no module named torchx"),
        ("KINDS = ['mypkg.rankers:Coverage']", "entry point mypkg = mypkg:KINDS (irharness.systems) is not a mapping "
         "kind → 'module:Class'"),
        ('KINDS = {"bm25": "mypkg.rankers:Coverage"}', "system kind 'bm25' is registered twice: mypkg.rankers:Coverage "
         "and systems.bm25:BM25"),
    ],
)  # fmt: skip
def test_a_broken_entry_point_is_one_line_naming_it(
    plugin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, init: str, message: str
) -> None:
    (plugin / "mypkg" / "__init__.py").write_text(init + "\n")
    suite_path = write_suite(tmp_path, "coverage")
    registered_kinds.cache_clear()  # read the entry points again, now with mypkg's dist-info on the path
    try:
        with pytest.raises(HarnessError) as info:
            load_suite(suite_path)
    finally:
        registered_kinds.cache_clear()
    assert str(info.value) == f"{suite_path}:7: systems.bm25.kind: {message}"  # the first registered kind


def test_registered_kind_resolves_through_the_entry_point(plugin: Path) -> None:
    registered_kinds.cache_clear()
    try:
        assert registered_kinds() == {**KINDS, "coverage": "mypkg.rankers:Coverage"}
        assert system_class("coverage").__module__ == "mypkg.rankers"
    finally:
        registered_kinds.cache_clear()


LOOSE_RANKER = """
import numpy

from harness.system import Reranker, StageResult, System
from loose_helper import EmptyConfig


class Loose(System, Reranker):
    kind = "loose"
    Config = EmptyConfig

    def rerank(self, dataset, candidates, depth):
        return StageResult(candidates)
"""


def test_a_plugin_of_loose_modules_covers_its_sibling_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin that is a module in a project folder (no package) imports a sibling module: that is its code too;
    numpy, installed, is not."""
    (tmp_path / "loose_ranker.py").write_text(LOOSE_RANKER)
    helper = tmp_path / "loose_helper.py"
    helper.write_text("from dataclasses import dataclass\n\n\n@dataclass(frozen=True)\nclass EmptyConfig:\n    pass\n")
    (tmp_path / "loose_unrelated.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        cls = system_class("loose_ranker:Loose")
        modules = code_modules(cls)
        assert [m for m in modules if not m.startswith("harness.")] == ["loose_helper", "loose_ranker"]
        before = code_digest(cls)
        (tmp_path / "loose_unrelated.py").write_text("X = 2\n")
        assert code_digest(cls) == before
        helper.write_text(helper.read_text() + "\nVERSION = 2\n")
        assert code_digest(cls) != before
    finally:
        for name in ("loose_ranker", "loose_helper"):
            sys.modules.pop(name, None)  # imported from this test's folder only


def test_project_systems_keys_cover_the_modules_they_import() -> None:
    closures = {kind: set(code_modules(system_class(kind))) for kind in KINDS}
    assert {"systems.dense", "systems.dense_encoder", "harness.models.encoding"} <= closures["dense"]
    assert {"systems.colbert", "systems.colbert_encoder", "systems.colbert_index"} <= closures["colbert-rerank"]
    assert {"systems.splade_index", "harness.models.encoding"} <= closures["splade"]
    assert "systems.llm.backends" in closures["llm-listwise"]  # imported inside a method only
    assert "harness.system.contract" in closures["bm25"]  # the role's stage() it runs
    for kind, modules in closures.items():
        assert all(m.startswith(("harness.", "systems.")) for m in modules), kind  # no third-party, no stdlib
        assert "systems" not in modules, kind  # adding a kind to systems/__init__.py recomputes nothing
    assert "systems.colbert_index" not in closures["dense"]


@dataclass(frozen=True)
class EmptyConfig:
    pass


class NoKind(System, Reranker):
    Config = EmptyConfig

    def rerank(self, dataset: DatasetRef, candidates: Run, depth: int) -> StageResult:
        return StageResult(candidates)


class NoConfig(System, Reranker):
    kind = "no-config"

    def rerank(self, dataset: DatasetRef, candidates: Run, depth: int) -> StageResult:
        return StageResult(candidates)


@pytest.mark.parametrize(
    ("name", "problem"),
    [("NoKind", "no kind (a class attribute"), ("NoConfig", "no Config dataclass"), ("EmptyConfig", "not a subclass")],
)
def test_a_class_short_of_the_contract_is_one_line(tmp_path: Path, name: str, problem: str) -> None:
    suite_path = write_suite(tmp_path, f"tests.test_plugins:{name}")
    with pytest.raises(HarnessError) as info:
        load_suite(suite_path)
    assert str(info.value).startswith(
        f"{suite_path}:10: systems.coverage.kind: tests.test_plugins:{name} is not a system: {problem}"
    )
