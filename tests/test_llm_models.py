"""Model files split over PACKAGE_part1..N (as the Qwen2.5-Coder and Gemma GGUFs ship on PyPI): assembled once."""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.models.resolve import resolve_model


def _make_parts(root: Path, name: str, chunks: list[bytes], meta_sums: str | None = None) -> None:
    for i, chunk in enumerate(chunks, 1):
        pkg = root / f"{name}_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"model.gguf.part{i - 1:02d}").write_bytes(chunk)
    if meta_sums is not None:  # the meta-package, with the checksum of the assembled file
        (root / name / "data").mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
        (root / name / "data" / "SHA256SUMS").write_text(meta_sums)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("IRH_MODEL_CACHE", str(tmp_path / "cache"))
    yield root
    for mod in [m for m in sys.modules if m.startswith("irhfake")]:
        del sys.modules[mod]


def test_parts_are_concatenated_in_part_order_once(site: Path, tmp_path: Path) -> None:
    chunks = [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3]
    _make_parts(site, "irhfake_one", chunks)
    importlib.invalidate_caches()
    ref = resolve_model("pkg:irhfake_one")
    assert ref.path.read_bytes() == b"".join(chunks)
    assert ref.path.name == "model.gguf" and ref.path.is_relative_to(tmp_path / "cache")
    mtime = ref.path.stat().st_mtime_ns
    again = resolve_model("pkg:irhfake_one")
    assert again.path == ref.path and again.digest == ref.digest and ref.path.stat().st_mtime_ns == mtime
    assert not list(ref.path.parent.glob(".*tmp*"))


def test_assembled_file_is_checked_against_the_meta_package_checksum(site: Path) -> None:
    chunks = [b"GGUF1234", b"5678"]
    good = hashlib.sha256(b"".join(chunks)).hexdigest()
    _make_parts(site, "irhfake_ok", chunks, f"{good}  model.gguf\n")
    _make_parts(site, "irhfake_bad", chunks, f"{'0' * 64}  model.gguf\n")
    importlib.invalidate_caches()
    assert resolve_model("pkg:irhfake_ok").path.read_bytes() == b"GGUF12345678"
    with pytest.raises(HarnessError, match="does not match"):
        resolve_model("pkg:irhfake_bad")


def test_missing_package_is_still_a_clear_error(site: Path) -> None:
    with pytest.raises(HarnessError, match="not installed"):
        resolve_model("pkg:irhfake_absent")
