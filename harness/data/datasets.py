"""Datasets by ir_datasets id, or given as files (``local/<name>``, see harness.data.local): queries, qrels,
documents, candidate runs, and content digests for cache keys."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.hashing import digest_rows, digest_value
from harness.core.run import Run
from harness.data.availability import Availability, expected_count, probe
from harness.data.irds_extra import register as register_extra_datasets
from harness.store import Damaged, read_sealed, write_sealed

log = logging.getLogger("irh")

# BEIR's evaluation drops a retrieved document whose id equals the query id (EvaluateRetrieval's
# ignore_identical_ids). It only changes results where query ids are also doc ids: ArguAna and Quora.
SELF_MATCH_DATASETS = ("beir/arguana", "beir/quora")


def default_excludes_self_matches(irds_id: str) -> bool:
    return any(irds_id == d or irds_id.startswith(d + "/") for d in SELF_MATCH_DATASETS)


def check_dataset_id(irds_id: str) -> None:
    import ir_datasets

    register_extra_datasets()
    if irds_id not in ir_datasets.registry:
        raise HarnessError(f"unknown ir_datasets id {irds_id!r}")


@dataclass(frozen=True)
class DatasetRef:
    """One dataset of a suite. Picklable (only ids and options); ir_datasets is loaded lazily in each process."""

    name: str
    irds_id: str
    exclude_self_matches: bool = False
    digest_dir: str | None = field(default=None, compare=False)
    group: str | None = None  # datasets reported together as one mean (CQADupStack's twelve subforums)
    files: tuple[tuple[str, str, str], ...] = ()  # a collection from files: (part, path, path as shown)

    def __getstate__(self) -> dict:  # ship ids and options to worker processes, not loaded datasets or caches
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    @cached_property
    def _irds(self):
        import ir_datasets

        if self.files:
            from harness.data import local

            return local.dataset(self.irds_id, self.files)
        register_extra_datasets()
        return ir_datasets.load(self.irds_id)

    # ---------------------------------------------------------------- content
    def queries(self) -> dict[str, str]:
        return {q.query_id: q.default_text() for q in self._irds.queries_iter()}

    def qrels(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for r in self._irds.qrels_iter():
            out.setdefault(r.query_id, {})[r.doc_id] = int(r.relevance)
        return out

    def docs_iter(self) -> Iterator[tuple[str, str]]:
        """(doc id, text); text is ir_datasets' default_text (BEIR: title + text, the 'flat' layout)."""
        for d in self._irds.docs_iter():
            yield d.doc_id, d.default_text()

    def docs_count(self) -> int | None:
        return self._irds.docs_count()

    def doc_texts(self, doc_ids: list[str]) -> dict[str, str]:
        store = self._irds.docs_store()
        return {d.doc_id: d.default_text() for d in store.get_many_iter(doc_ids)}

    def has_docs(self) -> bool:
        return self._irds.has_docs()

    def has_scoreddocs(self) -> bool:
        return self._irds.has_scoreddocs()

    def scoreddocs(self) -> Run:
        scores: dict[str, dict[str, float]] = {}
        for s in self._irds.scoreddocs_iter():
            scores.setdefault(s.query_id, {})[s.doc_id] = float(s.score)
        return Run(scores)

    # ---------------------------------------------------------------- availability
    def availability(self, part: str) -> Availability:
        if part not in self._availability:
            if self.files:
                from harness.data import local

                self._availability[part] = local.availability(self.files, part)
            else:
                self._availability[part] = probe(self.irds_id, part)
        return self._availability[part]

    @cached_property
    def _availability(self) -> dict[str, Availability]:
        return {}

    def partial_corpus(self) -> str | None:
        """Why full-corpus retrieval would not be meaningful here (fewer docs than ir_datasets publishes), or None."""
        expected = expected_count(self.irds_id, "docs")
        actual = self.count("docs")
        if expected is not None and actual < expected:
            return f"only {actual:,} of {expected:,} documents are available locally (a partial corpus)"
        return None

    # ---------------------------------------------------------------- digests
    def count(self, part: str) -> int:
        """Records in a part, counted when its digest is computed (and memoised with it)."""
        self.digest(part)
        return self._memo()[f"{part}_count"]

    def digest(self, part: str) -> str:
        """sha256 of the content of 'docs', 'queries', 'qrels' or 'scoreddocs'.

        Memoised on disk against a stat signature of the dataset's files in the ir_datasets home, so a corpus is hashed
        once, and any change to its files (size or mtime) makes it hashed again. The memo file is sealed (its own
        digest): a damaged or edited one is derived data, so it is recomputed, never trusted.
        """
        memo = self._memo()
        if part not in memo:
            memo.update(self._computed(part))
            self._write_memo(memo)
        return memo[part]

    def check_files(self) -> None:
        """A collection from files: read every file now, so a bad line is an error before anything runs (and before
        anything is written); their digests are memoised together, once all are read."""
        from harness.data.local import irds_part

        memo = self._memo()
        computed = {}
        for part in (irds_part(part) for part, _, _ in self.files):
            if part not in memo:
                computed.update(self._computed(part))
        if computed:
            memo.update(computed)
            self._write_memo(memo)

    def _computed(self, part: str) -> dict:
        counter = _Counter(self._rows(part))
        return {part: digest_rows(counter), f"{part}_count": counter.n}

    def _write_memo(self, memo: dict) -> None:
        memo_path, _ = self._memo_location()
        if memo_path is not None:
            write_sealed(memo_path, memo)

    def _memo(self) -> dict:
        """Digests and counts computed so far; reloaded from disk, discarded when the dataset's files changed."""
        memo_path, signature = self._memo_location()
        memo = self.__dict__.setdefault("_memo_cache", {})
        if memo.get("signature") != signature:
            memo.clear()
            if memo_path is not None and memo_path.exists():
                try:
                    on_disk = read_sealed(memo_path)
                except Damaged as e:
                    log.warning("%s; recomputing the dataset's digests", e.problem)
                    on_disk = {}
                if on_disk.get("signature") == signature:
                    memo.update(on_disk)
            memo["signature"] = signature
        return memo

    def _rows(self, part: str) -> Iterator[tuple]:
        ds = self._irds
        if part == "docs":
            return iter(self.docs_iter())
        if part == "queries":
            return ((q.query_id, q.default_text()) for q in ds.queries_iter())
        if part == "qrels":
            return ((r.query_id, r.doc_id, r.relevance) for r in ds.qrels_iter())
        if part == "scoreddocs":
            return ((s.query_id, s.doc_id, repr(float(s.score))) for s in ds.scoreddocs_iter())
        raise ValueError(f"unknown dataset part {part!r}")

    def _memo_location(self) -> tuple[Path | None, list]:
        if self.digest_dir is None:
            return None, []
        if self.files:
            from harness.data import local

            name = digest_value([self.irds_id, sorted(path for _, path, _ in self.files)])[:32]
            return Path(self.digest_dir) / f"local__{name}.json", local.signature(self.files)
        import ir_datasets

        root = Path(ir_datasets.util.home_path()) / self.irds_id.split("/")[0]
        signature = []
        if root.exists():
            for dirpath, dirnames, filenames in os.walk(root):
                # docstores ir_datasets builds on first use are derived data, not content
                dirnames[:] = sorted(d for d in dirnames if not d.endswith(".pklz4"))
                for name in sorted(filenames):
                    if name.endswith((".pklz4", ".tmp")) or name.startswith("."):
                        continue
                    st = os.stat(os.path.join(dirpath, name))
                    signature.append([os.path.relpath(os.path.join(dirpath, name), root), st.st_size, st.st_mtime_ns])
        safe = self.irds_id.replace("/", "__")
        return Path(self.digest_dir) / f"{safe}.json", signature


class _Counter:
    """Counts the rows of a stream as it is consumed."""

    def __init__(self, rows: Iterator[tuple]):
        self.rows, self.n = rows, 0

    def __iter__(self) -> Iterator[tuple]:
        for row in self.rows:
            self.n += 1
            yield row
