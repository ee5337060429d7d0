"""What of a dataset is on this machine: for docs, queries, qrels and scoreddocs, whether ir_datasets can read them
locally, would need a download (and how large), or needs licensed data placed by hand.

It asks ir_datasets itself: the part is opened with downloads forbidden (harness.core.downloads), so the answer
follows ir_datasets' own rules for where files live, and nothing is ever fetched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from harness.core.downloads import DownloadBlocked, downloads_forbidden, guard

PARTS = ("docs", "queries", "qrels", "scoreddocs")


@dataclass(frozen=True)
class Availability:
    status: str  # "local" | "download" | "licensed" | "absent" (the dataset has no such part) | "error"
    detail: str = ""
    size_bytes: int | None = None  # download size, where ir_datasets knows it
    path: str | None = None  # where ir_datasets reads the missing file from

    @property
    def local(self) -> bool:
        return self.status == "local"

    def describe(self) -> str:
        if self.status == "download":
            size = f"~{self.size_bytes / 1e6:,.1f} MB" if self.size_bytes else "size unknown"
            return f"download needed ({size})"
        if self.status == "licensed":
            return "licensed: " + self.detail
        return self.status if not self.detail else f"{self.status}: {self.detail}"

    def location(self) -> str | None:
        """Where the missing part is read from and where it would come from, for ``irh suites check``."""
        if self.status not in ("download", "licensed"):
            return None
        source = f"; ir_datasets would download {self.detail}" if self.status == "download" else ""
        return f"read from {self.path or 'a temporary file'} (not there){source}"


def _blocked(e: DownloadBlocked) -> Availability:
    need = e.needed
    if need.url is None:
        return Availability("licensed", need.instructions or "place the files by hand", None, need.path)
    return Availability("download", need.url, need.size_bytes, need.path)


def probe(irds_id: str, part: str) -> Availability:
    """Open one part of a dataset (reading a single record) with downloads intercepted."""
    import ir_datasets

    from harness.data.irds_extra import register

    register()
    ds = ir_datasets.load(irds_id)
    if not getattr(ds, f"has_{part}")():
        return Availability("absent")
    guard()
    try:
        with downloads_forbidden():
            next(iter(getattr(ds, f"{part}_iter")()), None)
    except DownloadBlocked as e:
        return _blocked(e)
    except Exception as e:
        return Availability("error", f"{type(e).__name__}: {e}")
    return Availability("local")


@cache
def _metadata() -> dict:
    return json.loads(resources.files("ir_datasets").joinpath("etc/metadata.json").read_text())


def expected_count(irds_id: str, part: str) -> int | None:
    """The record count ir_datasets publishes for a dataset part (following its references to parent datasets)."""
    from harness.data.irds_extra import expected_counts

    if part in expected_counts(irds_id):
        return expected_counts(irds_id)[part]
    meta = _metadata()
    entry = meta.get(irds_id, {}).get(part)
    while isinstance(entry, dict) and "_ref" in entry:
        entry = meta.get(entry["_ref"], {}).get(part)
    return entry.get("count") if isinstance(entry, dict) else None
