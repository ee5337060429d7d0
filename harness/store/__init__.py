"""The store under ``results/``: content-addressed runs and evaluations (``entries``), entry locks (``locks``),
the one atomic writer (``atomic``), sealed JSON files (``sealed``), artefact manifests (``manifest``) and the
checked pair-score caches (``score_cache``). This module only re-exports their public API."""

from harness.store.atomic import (
    HOST,
    TEMP_NAME,
    atomic_folder,
    atomic_write,
    is_own_temp,
    is_stale_temp,
    pid_alive,
    temp_path,
    write_json,
    write_text_atomic,
)
from harness.store.entries import Store
from harness.store.locks import file_lock
from harness.store.manifest import (
    MANIFEST,
    TRAINED_MODEL_CARD,
    artefact_ready,
    build_artefact,
    check_manifest,
    check_trained_model,
    write_manifest,
)
from harness.store.score_cache import ScoreCache
from harness.store.sealed import REPAIR, STORE_FORMAT, Damaged, read_sealed, write_sealed

__all__ = [
    "HOST",
    "MANIFEST",
    "REPAIR",
    "STORE_FORMAT",
    "TEMP_NAME",
    "TRAINED_MODEL_CARD",
    "Damaged",
    "ScoreCache",
    "Store",
    "artefact_ready",
    "atomic_folder",
    "atomic_write",
    "build_artefact",
    "check_manifest",
    "check_trained_model",
    "file_lock",
    "is_own_temp",
    "is_stale_temp",
    "pid_alive",
    "read_sealed",
    "temp_path",
    "write_json",
    "write_manifest",
    "write_sealed",
    "write_text_atomic",
]
