"""What of a dataset is on this machine: for docs, queries, qrels and scoreddocs, whether ir_datasets can read them
locally, would need a download (and how large), or needs licensed data placed by hand.

It asks ir_datasets itself: the part is opened with downloads intercepted, so the answer follows ir_datasets' own
rules for where files live, and nothing is ever fetched.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

PARTS = ("docs", "queries", "qrels", "scoreddocs")


class _NeedsDownload(Exception):
    def __init__(self, status: str, detail: str, size: int | None):
        super().__init__(detail)
        self.status, self.detail, self.size = status, detail, size


@dataclass(frozen=True)
class Availability:
    status: str  # "local" | "download" | "licensed" | "absent" (the dataset has no such part) | "error"
    detail: str = ""
    size_bytes: int | None = None  # download size, where ir_datasets knows it

    @property
    def local(self) -> bool:
        return self.status == "local"

    def describe(self) -> str:
        if self.status == "download":
            size = f"~{self.size_bytes / 1e6:,.0f} MB" if self.size_bytes else "size unknown"
            return f"download needed ({size})"
        if self.status == "licensed":
            return "licensed: " + self.detail
        return self.status if not self.detail else f"{self.status}: {self.detail}"


_lock = threading.Lock()


@contextlib.contextmanager
def _downloads_intercepted() -> Iterator[None]:
    from ir_datasets.util.download import Download, LocalDownload

    original_path, original_stream = Download.path, Download.stream

    def refuse(download: Download) -> None:
        for mirror in download.mirrors:  # a local copy ir_datasets would take (e.g. <home>/downloads/<md5>)
            if isinstance(mirror, LocalDownload) and mirror._path.exists():
                return
        remote = [m for m in download.mirrors if not isinstance(m, LocalDownload)]
        if remote:
            raise _NeedsDownload("download", getattr(remote[0], "url", repr(remote[0])), download._size_hint)
        message = next((m._message for m in download.mirrors if m._message), "place the files by hand")
        raise _NeedsDownload("licensed", " ".join(message.split()), None)

    def path(self: Download, force: bool = True):
        cached = self._path is not None or (self._cache_path is not None and os.path.exists(self._cache_path))
        if force and not cached:
            refuse(self)
        return original_path(self, force)

    @contextlib.contextmanager
    def stream(self: Download):
        if self._stream:
            refuse(self)
        with original_stream(self) as s:
            yield s

    with _lock:
        Download.path, Download.stream = path, stream
        try:
            yield
        finally:
            Download.path, Download.stream = original_path, original_stream


def probe(irds_id: str, part: str) -> Availability:
    """Open one part of a dataset (reading a single record) with downloads intercepted."""
    import ir_datasets

    from harness.data.irds_extra import register

    register()
    ds = ir_datasets.load(irds_id)
    if not getattr(ds, f"has_{part}")():
        return Availability("absent")
    try:
        with _downloads_intercepted():
            next(iter(getattr(ds, f"{part}_iter")()), None)
    except _NeedsDownload as e:
        return Availability(e.status, e.detail, e.size)
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
