"""Damaged stored data never becomes a number: every read is checked against the digest recorded at write time, a
damaged entry is a one-line error naming the repair, and ``irh cache verify --repair`` + ``irh run`` restores the
undamaged numbers. Cranfield with BM25 on Lucene (issue 20, Integrity)."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.models.encoding import ArrayCache
from harness.store import MANIFEST, Damaged, Store, check_manifest, write_manifest

pytestmark = pytest.mark.slow

SUITE = """
name = "faults"
metrics = ["nDCG@10", "AP"]
baseline = "bm25"
[datasets.cranfield]
id = "cranfield"
[systems.bm25]
kind = "bm25"
"""


def _irh(store: Path, *args: str) -> int:
    return main(["--results", str(store), *args])


@pytest.fixture(scope="module")
def base(irds_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A store with Cranfield BM25 run + evaluation + index, and its undamaged numbers."""
    root = tmp_path_factory.mktemp("faults")
    suite = root / "faults.toml"
    suite.write_text(SUITE)
    store = root / "results"
    assert _irh(store, "-q", "run", str(suite)) == 0
    return store, suite, _numbers(store, suite)


def _numbers(store: Path, suite: Path) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = _irh(store, "show", str(suite), "--format", "json")
    assert rc == 0
    return json.loads(buf.getvalue())


@pytest.fixture
def copy(base, tmp_path: Path) -> tuple[Path, Path, dict]:
    store, suite, numbers = base
    dst = tmp_path / "results"
    shutil.copytree(store, dst)
    return dst, suite, numbers


def _one(store: Path, pattern: str) -> Path:
    (found,) = sorted(store.glob(pattern))
    return found


def _refused(capsys: pytest.CaptureFixture, rc: int, *names: str) -> str:
    """The command failed with one line naming the damaged file and the repair, and printed no number."""
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert "0." not in out, out
    lines = [line for line in err.splitlines() if line.startswith("irh: error:")]
    assert len(lines) == 1 and "damaged" in lines[0] and "irh cache verify --repair" in lines[0], err
    assert "Traceback" not in err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def test_emptied_run_is_refused_not_zero(copy, capsys: pytest.CaptureFixture) -> None:
    store, suite, _ = copy
    run = _one(store, "runs/*/*.run.gz")
    run.write_bytes(b"")
    capsys.readouterr()
    _refused(capsys, _irh(store, "show", str(suite)), run.name)
    _refused(capsys, _irh(store, "eval", str(suite)), run.name)
    _refused(capsys, _irh(store, "run", str(suite)), run.name)


def test_regzipped_negated_scores_are_refused(copy, capsys: pytest.CaptureFixture) -> None:
    store, suite, _ = copy
    run = _one(store, "runs/*/*.run.gz")
    lines = gzip.decompress(run.read_bytes()).decode().splitlines()
    negated = [" ".join([*p[:4], repr(-float(p[4])), p[5]]) for p in (line.split() for line in lines)]
    run.write_bytes(gzip.compress(("\n".join(negated) + "\n").encode()))
    shutil.rmtree(store / "evals")  # what an evaluation of the damaged run would print
    capsys.readouterr()
    _refused(capsys, _irh(store, "show", str(suite)), run.name)
    _refused(capsys, _irh(store, "compare", str(suite), "--no-plots"), run.name)


def test_rm_key_and_run_never_meets_a_stale_evaluation(copy, capsys: pytest.CaptureFixture) -> None:
    store, suite, numbers = copy
    run = _one(store, "runs/*/*.run.gz")
    run.write_bytes(b"")
    shutil.rmtree(store / "evals")
    _irh(store, "show", str(suite))  # old code: evaluates the empty run and caches 0.0000 under the run key
    key = run.name.removesuffix(".run.gz")
    assert _irh(store, "cache", "rm", key) == 0
    assert _irh(store, "-q", "run", str(suite)) == 0
    capsys.readouterr()
    assert _numbers(store, suite) == numbers


def test_flipped_bit_in_an_evaluation_is_refused(copy, capsys: pytest.CaptureFixture) -> None:
    store, suite, _ = copy
    ev = _one(store, "evals/*/*.parquet")
    data = bytearray(ev.read_bytes())
    data[len(data) // 3] ^= 0x01
    ev.write_bytes(bytes(data))
    capsys.readouterr()
    _refused(capsys, _irh(store, "show", str(suite)), ev.name)


def test_damaged_lucene_index_is_refused_not_stored(copy, capsys: pytest.CaptureFixture) -> None:
    store, suite, _ = copy
    nvd = _one(store, "artifacts/lucene/*/_0.nvd")
    data = bytearray(nvd.read_bytes())
    for i in range(min(100, len(data))):
        data[i] ^= 0xA5
    nvd.write_bytes(bytes(data))
    other = suite.parent / f"{suite.stem}-k1.toml"
    other.write_text(SUITE.replace('kind = "bm25"', 'kind = "bm25"\nk1 = 1.2'))
    runs_before = sorted(store.glob("runs/*/*.run.gz"))
    capsys.readouterr()
    _refused(capsys, _irh(store, "run", str(other)), "_0.nvd", "Lucene index")
    assert sorted(store.glob("runs/*/*.run.gz")) == runs_before  # nothing computed from the damaged index


@pytest.mark.parametrize("damage", ["edit", "truncate"])
def test_edited_or_broken_sidecar_is_detected(copy, capsys: pytest.CaptureFixture, damage: str) -> None:
    store, suite, _ = copy
    sidecar = _one(store, "runs/*/*.json")
    if damage == "edit":  # still valid JSON: a changed field
        meta = json.loads(sidecar.read_text())
        meta["max_depth"] = 10
        sidecar.write_text(json.dumps(meta, indent=1, sort_keys=True))
    else:
        sidecar.write_bytes(sidecar.read_bytes()[:40])
    capsys.readouterr()
    _refused(capsys, _irh(store, "show", str(suite)), sidecar.name)
    assert _irh(store, "cache", "verify") == 1
    assert sidecar.name in capsys.readouterr().out


def test_verify_finds_every_damage_and_repair_then_run_restores_the_numbers(
    copy, capsys: pytest.CaptureFixture
) -> None:
    store, suite, numbers = copy
    run, ev = _one(store, "runs/*/*.run.gz"), _one(store, "evals/*/*.parquet")
    nvd = _one(store, "artifacts/lucene/*/_0.nvd")
    run.write_bytes(b"")
    ev.write_bytes(ev.read_bytes()[:-7])
    nvd.write_bytes(bytes(b ^ 0xFF for b in nvd.read_bytes()))
    capsys.readouterr()
    assert _irh(store, "cache", "verify") == 1
    out = capsys.readouterr().out
    assert "cache OK" not in out
    for name in (run.name, ev.name, "_0.nvd"):
        assert name in out, out
    assert _irh(store, "cache", "verify", "--repair") == 0
    assert not run.exists() and not ev.exists() and not nvd.parent.exists()
    assert _irh(store, "-q", "run", str(suite)) == 0
    capsys.readouterr()
    assert _numbers(store, suite) == numbers
    assert Store(store).verify() == []


def test_damaged_comparison_is_recomputed_from_checked_evaluations(copy) -> None:
    from harness.report.context import load_comparison
    from harness.suite.config import load_suite
    from harness.suite.results import read_results

    store_dir, suite_path, _ = copy
    assert _irh(store_dir, "-q", "compare", str(suite_path)) == 0  # with plots: what a report uses as stored
    store = Store(store_dir)
    suite = load_suite(suite_path, digest_dir=str(store.digests_dir))
    table = store_dir / "compare" / "faults" / "comparisons.parquet"
    undamaged = table.read_bytes()
    table.write_bytes(undamaged[: len(undamaged) // 2])
    cmp = load_comparison(suite, read_results(suite, store), store)
    assert "damaged" in cmp.source and "comparisons.parquet" in cmp.source
    assert table.read_bytes() == undamaged  # recomputed from the evaluations: the same bytes
    check_manifest(table.parent, "stored comparison")


def test_manifest_catches_edited_missing_and_extra_files(tmp_path: Path) -> None:
    folder = tmp_path / "artefact"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"abc")
    (folder / "sub" / "b.bin").write_bytes(b"def")
    write_manifest(folder)
    check_manifest(folder, "test artefact")
    (folder / "a.bin").write_bytes(b"abd")
    with pytest.raises(Damaged, match=r"a\.bin: damaged"):
        check_manifest(folder, "test artefact")
    (folder / "a.bin").write_bytes(b"abc")
    (folder / "extra").write_bytes(b"")
    with pytest.raises(Damaged, match="not in its manifest"):
        check_manifest(folder, "test artefact")
    (folder / "extra").unlink()
    (folder / "sub" / "b.bin").unlink()
    with pytest.raises(Damaged, match="file missing"):
        check_manifest(folder, "test artefact")
    (folder / "sub" / "b.bin").write_bytes(b"def")
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"]["a.bin"]["size"] = 4
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(Damaged, match="own digest"):
        check_manifest(folder, "test artefact")


@pytest.mark.parametrize("fault", ["flip", "truncate", "delete"])
def test_array_cache_refuses_damaged_arrays(tmp_path: Path, fault: str) -> None:
    cache = ArrayCache(tmp_path / "artifacts" / "encodings")
    vectors = np.arange(64, dtype=np.float32).reshape(8, 8)
    arrays, _ = cache.get_or_compute({"what": "test"}, lambda: ({"vectors": vectors}, {}))
    assert np.array_equal(arrays["vectors"], vectors)
    path = _one(tmp_path, "artifacts/encodings/*/vectors.npy")
    if fault == "flip":
        data = bytearray(path.read_bytes())
        data[-5] ^= 0x10
        path.write_bytes(bytes(data))
    elif fault == "truncate":
        path.write_bytes(path.read_bytes()[:-8])
    else:
        path.unlink()
    with pytest.raises(Damaged, match=r"vectors\.npy: damaged"):
        cache.get_or_compute({"what": "test"}, lambda: pytest.fail("must not recompute over a damaged entry"))
    assert Store(tmp_path).verify() != []


def test_trained_model_is_checked_against_its_model_card(tmp_path: Path) -> None:
    from harness.core.hashing import model_digest
    from harness.store import check_trained_model

    folder = tmp_path / "models" / "tiny"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.safetensors").write_bytes(b"weights")
    (folder / "model_card.json").write_text(json.dumps({"digest": model_digest(folder / "model")}))
    check_trained_model(folder)
    assert Store(tmp_path).verify() == []
    (folder / "model" / "model.safetensors").write_bytes(b"weighty")
    with pytest.raises(Damaged, match="does not match its model card"):
        check_trained_model(folder)
    assert Store(tmp_path).repair() and not (folder / "model").exists() and Store(tmp_path).verify() == []
