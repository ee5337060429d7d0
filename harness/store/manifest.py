"""Manifests of derived artefact folders (an index, cached encodings, a stored comparison, an ONNX graph): every
file's sha256 and size, written last, so a folder is complete and checkable once its manifest exists. Readers check
it before using the folder (``artefact_ready``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harness.core.hashing import digest_file_once, model_digest
from harness.store.atomic import atomic_folder
from harness.store.sealed import STORE_FORMAT, Damaged, read_sealed, write_sealed

MANIFEST = "irh-manifest.json"
TRAINED_MODEL_CARD = "model_card.json"


def _files_under(directory: Path) -> dict[str, Path]:
    return {
        p.relative_to(directory).as_posix(): p
        for p in sorted(directory.rglob("*"))
        if p.name != MANIFEST and (p.is_file() or p.is_symlink())
    }


def write_manifest(directory: Path) -> None:
    """Record every file under ``directory`` (relative path → sha256, size) in its manifest. Call it last: a folder
    is complete, and checkable, once its manifest exists."""
    files = {
        rel: {"sha256": digest_file_once(p), "size": p.stat().st_size} for rel, p in _files_under(directory).items()
    }
    write_sealed(directory / MANIFEST, {"format": STORE_FORMAT, "files": files})


def check_manifest(directory: Path, what: str) -> None:
    """Raise ``Damaged`` unless the files under ``directory`` are exactly those its manifest lists, byte for byte.
    Each file is hashed once per process (``digest_file_once``); later checks only stat the files."""
    manifest = directory / MANIFEST
    if not manifest.exists():
        raise Damaged(directory, f"{what} without a manifest: interrupted, edited, or written by an older irharness")
    recorded: dict[str, dict] = read_sealed(manifest)["files"]
    present = _files_under(directory)
    for rel in sorted(recorded.keys() - present.keys()):
        raise Damaged(directory / rel, f"{what}: file missing")
    for rel in sorted(present.keys() - recorded.keys()):
        raise Damaged(directory / rel, f"{what}: file not in its manifest")
    for rel, rec in sorted(recorded.items()):
        path = present[rel]
        if path.stat().st_size != rec["size"] or digest_file_once(path) != rec["sha256"]:
            raise Damaged(path, f"{what}: sha256 does not match its manifest")


def artefact_ready(directory: Path, what: str) -> bool:
    """True when the artefact folder is stored and checked against its manifest, False when it is not stored;
    ``Damaged`` when it is stored but does not match."""
    if not directory.exists():
        return False
    check_manifest(directory, what)
    return True


def check_trained_model(folder: Path) -> None:
    """Raise ``Damaged`` unless the trained model under ``folder`` (``results/models/NAME``) has the digest its model
    card recorded when it was written."""
    card_path, model = folder / TRAINED_MODEL_CARD, folder / "model"
    try:
        recorded = json.loads(card_path.read_text()).get("digest")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
        raise Damaged(card_path, f"trained model card unreadable: {type(e).__name__}") from None
    if not model.is_dir():
        raise Damaged(model, "trained model missing; its model card is there")
    if model_digest(model) != recorded:
        raise Damaged(model, "trained model: digest does not match its model card")


def build_artefact(final: Path, fill: Callable[[Path], None]) -> Path:
    """The one way to store a derived folder: ``fill(tmp)`` fills a temp folder beside ``final``, which is sealed
    with its manifest and renamed into place (``atomic_folder``). On any failure nothing partial is left and there
    is no manifest; when another process stored the same key first, theirs stays."""

    def fill_and_seal(tmp: Path) -> None:
        fill(tmp)
        write_manifest(tmp)

    return atomic_folder(final, fill_and_seal)
