"""ir_datasets downloads are off unless a command allows them.

``guard()`` puts a check in front of ir_datasets' ``Download`` (once per process): a file that is not on this machine
and would be fetched from a remote mirror raises ``DownloadBlocked``, a one-line error naming the path ir_datasets
reads it from and the URL it would come from. Only ``irh run --allow-download`` (``allowing_downloads()``) lets the
download go ahead; it is then logged with its size and target, and ir_datasets shows its progress bar. The switch is
the environment variable ``IRH_ALLOW_DOWNLOAD`` so that worker processes inherit it; ``downloads_forbidden()``
overrides it (checking what is on the machine must never fetch, even during a run that may).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.core.errors import HarnessError

log = logging.getLogger("irh")

ENV = "IRH_ALLOW_DOWNLOAD"
_forbidden: contextvars.ContextVar[bool] = contextvars.ContextVar("irh_downloads_forbidden", default=False)


@dataclass(frozen=True)
class Needed:
    """A file ir_datasets does not have here: where it reads it from, and where it would get it."""

    path: str | None  # where ir_datasets reads the file from (None: a temporary file, streamed)
    url: str | None  # the remote mirror; None when the file must be placed by hand (licensed data)
    size_bytes: int | None
    instructions: str = ""  # ir_datasets' message for files placed by hand

    def describe(self) -> str:
        size = f"~{self.size_bytes / 1e6:,.1f} MB" if self.size_bytes else "size unknown"
        if self.url is None:
            return f"not on this machine; place it by hand: {self.instructions or 'no instructions given'}"
        return f"not on this machine; ir_datasets would download it from {self.url} ({size})"


class DownloadBlocked(HarnessError):
    def __init__(self, needed: Needed):
        self.needed = needed
        hint = "; read commands never download: place the file there, or run `irh run --allow-download`"
        super().__init__(needed.describe() + (hint if needed.url else ""), file=needed.path or needed.url)


def downloads_allowed() -> bool:
    return os.environ.get(ENV) == "1" and not _forbidden.get()


@contextlib.contextmanager
def allowing_downloads(allow: bool = True) -> Iterator[None]:
    """Let ir_datasets download while inside (in this process and the workers it starts); ``allow=False`` changes
    nothing."""
    before = os.environ.get(ENV)
    if allow:
        os.environ[ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


@contextlib.contextmanager
def downloads_forbidden() -> Iterator[None]:
    """No download inside, whatever ``IRH_ALLOW_DOWNLOAD`` says (this thread/context only)."""
    token = _forbidden.set(True)
    try:
        yield
    finally:
        _forbidden.reset(token)


def needed(download: Any) -> Needed | None:
    """What fetching this ir_datasets ``Download`` would take; None when ir_datasets has the file locally (its cache
    path, or a local mirror such as ``<home>/downloads/<md5>``)."""
    from ir_datasets.util.download import LocalDownload

    if download._path is not None:
        return None
    cache_path = download._cache_path
    if cache_path is not None and os.path.exists(cache_path):
        return None
    local = [m for m in download.mirrors if isinstance(m, LocalDownload)]
    if any(m._path.exists() for m in local):
        return None
    remote = [m for m in download.mirrors if not isinstance(m, LocalDownload)]
    if remote:
        url = getattr(remote[0], "url", None) or getattr(remote[0], "uri", None) or repr(remote[0])
        return Needed(cache_path, url, download._size_hint)
    message = next((" ".join(m._message.split()) for m in local if m._message), "")
    return Needed(cache_path or (str(local[0]._path) if local else None), None, None, message)


def _check(download: Any) -> Needed | None:
    """Raise DownloadBlocked for a download that is not allowed; return what an allowed one fetches (None: local)."""
    need = needed(download)
    if need is None:
        return None
    if need.url is None or not downloads_allowed():
        raise DownloadBlocked(need)
    size = f"{need.size_bytes / 1e6:,.1f} MB" if need.size_bytes else "size unknown"
    log.info("downloading %s (%s) to %s", need.url, size, need.path or "a temporary file")
    return need


@contextlib.contextmanager
def _failing_in_one_line(need: Needed | None) -> Iterator[None]:
    try:
        yield
    except Exception as e:
        if need is None or isinstance(e, HarnessError):
            raise
        raise HarnessError(f"download from {need.url} failed: {type(e).__name__}: {e}", file=need.path) from e


def guard() -> None:
    """Install the check in front of ir_datasets' Download.path/stream (idempotent)."""
    from ir_datasets.util.download import Download

    if getattr(Download.path, "_irh_guard", False):
        return
    original_path, original_stream = Download.path, Download.stream

    def path(self: Download, force: bool = True):
        with _failing_in_one_line(_check(self) if force else None):
            return original_path(self, force)

    @contextlib.contextmanager
    def stream(self: Download):
        need = _check(self) if self._stream else None
        with _failing_in_one_line(need), original_stream(self) as s:
            yield s

    path._irh_guard = stream._irh_guard = True  # type: ignore[attr-defined]
    Download.path, Download.stream = path, stream
