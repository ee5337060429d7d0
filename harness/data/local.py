"""A collection given as files in a suite (``[datasets.mycoll] docs/queries/qrels/candidates = "path"``), loaded as an
ir_datasets dataset: ir_datasets' own Dataset, record types (GenericDoc, GenericQuery, TrecQrel, GenericScoredDoc)
and docstore, over the readers in ``harness.core.collection_files``, registered as ``local/<name>``. So a DatasetRef
over files reads, digests and caches exactly as one over an ir_datasets id.

The docstore (for rerankers' document lookups) is built in the ir_datasets home under ``local/``, named by the
file's path, size and mtime: never beside the user's files, and rebuilt when the file changes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from harness.core.collection_files import read_qrels, read_texts
from harness.core.errors import HarnessError
from harness.core.run import Run
from harness.data.availability import Availability

PARTS = ("docs", "queries", "qrels", "candidates")
PREFIX = "local/"

# (part, path to open, path as shown in messages): what a DatasetRef over files carries (picklable, hashable)
Files = tuple[tuple[str, str, str], ...]


def irds_part(part: str) -> str:
    """The ir_datasets name of a suite's file part: candidates are ir_datasets' scoreddocs."""
    return "scoreddocs" if part == "candidates" else part


def file_of(files: Files, irds_name: str) -> tuple[Path, str] | None:
    for part, path, shown in files:
        if irds_part(part) == irds_name:
            return Path(path), shown
    return None


def availability(files: Files, irds_name: str) -> Availability:
    found = file_of(files, irds_name)
    if found is None:
        return Availability("absent")
    path, shown = found
    return Availability("local") if path.is_file() else Availability("error", f"{shown} not found")


def signature(files: Files) -> list:
    """Path, size and mtime of each file: a change to any of them makes its digests recomputed."""
    out = []
    for part, path, _ in files:
        st = os.stat(path) if os.path.exists(path) else None
        out.append([part, path, st.st_size if st else None, st.st_mtime_ns if st else None])
    return out


def dataset(irds_id: str, files: Files):
    """The ir_datasets Dataset over the files, registered under ``irds_id`` (replacing an earlier one)."""
    import ir_datasets
    from ir_datasets.datasets.base import Dataset

    parts = {part: (Path(path), shown) for part, path, shown in files}
    queries = LocalQueries(*parts["queries"])
    components = [queries, LocalQrels(*parts["qrels"], queries)]
    if "docs" in parts:
        components.append(LocalDocs(*parts["docs"]))
    if "candidates" in parts:
        components.append(LocalScoredDocs(*parts["candidates"], queries))
    ds = Dataset(*components)
    ir_datasets.registry._registered[irds_id] = ds  # the registry refuses re-registration; a suite may be re-read
    return ds


def _base_classes():  # ir_datasets is imported with this module: DatasetRef imports it only for a local dataset
    from ir_datasets.formats import BaseDocs, BaseQrels, BaseQueries, BaseScoredDocs

    return BaseDocs, BaseQueries, BaseQrels, BaseScoredDocs


_BaseDocs, _BaseQueries, _BaseQrels, _BaseScoredDocs = _base_classes()


class LocalQueries(_BaseQueries):
    def __init__(self, path: Path, shown: str):
        self.path, self.shown = path, shown

    def queries_iter(self) -> Iterator:
        from ir_datasets.formats import GenericQuery

        for _, qid, text in read_texts(self.path, self.shown, "queries"):
            yield GenericQuery(qid, text)

    def query_ids(self) -> set[str]:
        if not hasattr(self, "_ids"):
            self._ids = {q.query_id for q in self.queries_iter()}
        return self._ids

    def queries_cls(self):
        from ir_datasets.formats import GenericQuery

        return GenericQuery

    def queries_namespace(self) -> str:
        return "local"

    def queries_lang(self) -> None:
        return None


class LocalQrels(_BaseQrels):
    def __init__(self, path: Path, shown: str, queries: LocalQueries):
        self.path, self.shown, self.queries = path, shown, queries

    def qrels_iter(self) -> Iterator:
        from ir_datasets.formats import TrecQrel

        known = self.queries.query_ids()
        for number, qid, did, rel in read_qrels(self.path, self.shown):
            if qid not in known:
                message = f"query {qid!r} is not in the queries file {self.queries.shown}"
                raise HarnessError(message, file=self.shown, line=number)
            yield TrecQrel(qid, did, rel, "0")

    def qrels_cls(self):
        from ir_datasets.formats import TrecQrel

        return TrecQrel

    def qrels_defs(self) -> dict:
        return {}


class LocalDocs(_BaseDocs):
    def __init__(self, path: Path, shown: str):
        self.path, self.shown = path, shown

    def docs_iter(self) -> Iterator:
        from ir_datasets.formats import GenericDoc

        for _, did, text in read_texts(self.path, self.shown, "docs"):
            yield GenericDoc(did, text)

    def docs_cls(self):
        from ir_datasets.formats import GenericDoc

        return GenericDoc

    def docs_store(self, field: str = "doc_id", options=None):
        import ir_datasets
        from ir_datasets.formats import GenericDoc
        from ir_datasets.indices import PickleLz4FullStore

        st = os.stat(self.path)
        name = hashlib.sha256(f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:32]
        store_path = Path(ir_datasets.util.home_path()) / "local" / f"{name}.pklz4"
        extra = {} if options is None else {"options": options}
        return PickleLz4FullStore(str(store_path), self.docs_iter, GenericDoc, field, ["doc_id"], **extra)

    def docs_count(self) -> int | None:
        store = self.docs_store()
        return store.count() if store.built() else None

    def docs_namespace(self) -> str:
        return "local"

    def docs_lang(self) -> None:
        return None


class LocalScoredDocs(_BaseScoredDocs):
    """Candidates per query: a TREC run file, read as trec_eval reads it (``Run.read_trec``)."""

    def __init__(self, path: Path, shown: str, queries: LocalQueries):
        self.path, self.shown, self.queries = path, shown, queries

    def scoreddocs_iter(self) -> Iterator:
        from ir_datasets.formats import GenericScoredDoc

        run = Run.read_trec(self.path, shown=self.shown)
        run.validate(self.queries.query_ids(), source=self.shown)
        for qid in sorted(run.scores):
            for did, score in run.ranked(qid):
                yield GenericScoredDoc(qid, did, score)

    def scoreddocs_cls(self):
        from ir_datasets.formats import GenericScoredDoc

        return GenericScoredDoc
