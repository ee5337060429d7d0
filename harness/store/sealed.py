"""Sealed JSON files (sidecars, manifests, digest memos): each records the digest of its own content, so an edited
or broken file is a one-line ``Damaged`` error naming the repair, never a JSON traceback or a wrong value."""

from __future__ import annotations

import json
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.hashing import digest_value
from harness.store.atomic import write_json

# Bump when the on-disk meaning of an entry changes; it is part of every cache key (runs, evaluations, artefacts).
# 2: sidecars carry their own digest and artefact folders a manifest. Entries of format 1 cannot be checked, so they
# are never read: their keys differ; `irh cache verify` reports them and `--repair` drops them.
STORE_FORMAT = 2
REPAIR = "run `irh cache verify --repair`, then `irh run` the suite again"
OWN_DIGEST = "sidecar_sha256"


class Damaged(HarnessError):
    """A stored file that does not match the digest recorded when it was written (or is missing or unreadable)."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"damaged ({why}); {REPAIR}", file=str(path))
        self.path, self.why = path, why

    @property
    def problem(self) -> str:
        """The finding without the repair advice (what ``irh cache verify`` lists)."""
        return f"{self.path}: damaged ({self.why})"


def write_sealed(path: Path, value: dict) -> None:
    """Write a JSON object with the digest of its own content, so an edited or broken file is detected on read."""
    plain = json.loads(json.dumps(value, default=str))  # the value exactly as it will be read back
    plain.pop(OWN_DIGEST, None)
    write_json(path, {**plain, OWN_DIGEST: digest_value(plain)})


def read_sealed(path: Path) -> dict:
    """A JSON object written by ``write_sealed``, after checking its own digest."""
    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise Damaged(path, "missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Damaged(path, f"unreadable: {type(e).__name__}") from None
    if not isinstance(value, dict) or not isinstance(value.get(OWN_DIGEST), str):
        raise Damaged(path, "no digest of its own: edited, or written by an older irharness")
    recorded = value.pop(OWN_DIGEST)
    if digest_value(value) != recorded:
        raise Damaged(path, "edited: its content does not match its own digest")
    return value
