"""Model sources: ``hf:org/name`` (Hugging Face hub id), ``pkg:package[/subdir]`` (weights shipped inside an installed
Python package), or a local path (``path:DIR`` or just ``DIR``). Every model resolves to local files and a digest of
their content, which goes into the fingerprint of every system that uses it.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from harness.errors import HarnessError
from harness.hashing import digest_file, digest_value

# Files that are documentation, not model: they do not change what a model computes.
_NOT_MODEL = {"README.md", ".gitattributes", "LICENSE", "LICENSE.txt", "model_card.md"}
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
    """Local files for a model source; one clear HarnessError if they cannot be had."""
    path = _locate(source)
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
    if found is None or not found.submodule_search_locations:
        raise HarnessError(f"model package {package!r} is not installed (pip install it, or use another source)")
    root = Path(next(iter(found.submodule_search_locations)))
    if subdir:
        path = root / subdir
        if not path.exists():
            raise HarnessError(f"package {package!r} has no {subdir!r} folder")
        return path
    found_paths = {p.parent for m in _MODEL_MARKERS for p in root.rglob(m)} | set(root.rglob("*.gguf"))
    # a model folder's own sub-folders (sentence-transformers' 1_Pooling/) are part of it, not other models
    candidates = sorted(c for c in found_paths if not any(o != c and o in c.parents for o in found_paths))
    if len(candidates) != 1:
        found_names = ", ".join(str(c.relative_to(root)) for c in candidates) or "none"
        raise HarnessError(f"package {package!r}: name the model folder as pkg:{package}/SUBDIR (found: {found_names})")
    return candidates[0]


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


def model_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.rglob("*") if p.is_file() and p.name not in _NOT_MODEL and "__pycache__" not in p.parts
    )


def model_digest(path: Path) -> str:
    """sha256 over (relative name, file sha256) of every model file; memoised per (file, size, mtime)."""
    root = path if path.is_dir() else path.parent
    return digest_value([[str(f.relative_to(root)), _file_digest(str(f), *_stat(f))] for f in model_files(path)])


def _stat(f: Path) -> tuple[int, int]:
    st = f.stat()
    return st.st_size, st.st_mtime_ns


@cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    return digest_file(path)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}
