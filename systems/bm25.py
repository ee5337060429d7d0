"""BM25 on Lucene through pyserini: a cached index per (corpus, analyzer), threaded batch search."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from tqdm import tqdm

from harness.core import interrupt
from harness.core.hashing import digest_value
from harness.core.java import java_storage_errors
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.store import STORE_FORMAT, artefact_ready, build_artefact
from harness.system import Retriever, StageResult, System

INDEX_BATCH = 10_000
SEARCH_CHUNK = 500  # k=1000 batches hold every hit in the JVM at once: search in chunks to bound memory
# Ctrl-C is honoured between chunks (a call into the JVM cannot be interrupted): chunks are sized to take about this
# long; a chunk of 16 queries costs no more per query than one of 500
CHUNK_SECONDS = 0.5


@dataclass(frozen=True)
class BM25Config:
    k1: Annotated[float, Field(ge=0, le=1000)] = 0.9  # term-frequency saturation (useful: ~0.5-2)
    b: Annotated[float, Field(ge=0, le=1)] = 0.4  # length normalisation
    stemmer: Literal["porter", "krovetz", "none"] = "porter"
    stopwords: bool = True  # remove Lucene's English stopwords (Anserini's default)


class BM25(System, Retriever):
    kind = "bm25"
    Config = BM25Config

    def retrieve(self, dataset: DatasetRef, k: int) -> StageResult:
        from harness.core.java import prepare_jvm

        prepare_jvm()
        from pyserini.search.lucene import LuceneSearcher

        with self.corpus_work():
            searcher = LuceneSearcher(str(self.index(dataset)))
        searcher.set_analyzer(self._analyzer())
        searcher.set_bm25(self.config.k1, self.config.b)
        queries = dataset.queries()
        qids, texts = list(queries), list(queries.values())
        scores: dict[str, dict[str, float]] = {}
        try:
            with interrupt.deferred(), tqdm(total=len(qids), desc=f"bm25 search {dataset.name}", unit="q") as bar:
                for chunk in timed_chunks(len(qids), CHUNK_SECONDS, SEARCH_CHUNK):
                    interrupt.check()
                    hits = searcher.batch_search(texts[chunk], qids[chunk], k=k, threads=self.context.threads)
                    for qid in qids[chunk]:
                        scores[qid] = {h.docid: float(h.score) for h in hits.get(qid, [])}
                    bar.update(len(qids[chunk]))
        finally:
            searcher.close()
        return StageResult(Run(scores))

    def _analyzer(self):
        from pyserini.analysis import get_lucene_analyzer

        stemmer = self.config.stemmer
        return get_lucene_analyzer(
            stemming=stemmer != "none",
            stemmer=stemmer if stemmer != "none" else "porter",
            stopwords=self.config.stopwords,
        )

    def _index_args(self) -> list[str]:
        args = ["-stemmer", self.config.stemmer, "-storeDocvectors"]
        if not self.config.stopwords:
            args.append("-keepStopwords")
        return args

    def index(self, dataset: DatasetRef) -> Path:
        """The Lucene index of the dataset's corpus, built once per (corpus digest, analyzer settings); a stored one is
        checked against its manifest before pyserini opens it."""
        from importlib.metadata import version

        key = digest_value(
            {
                "docs": dataset.digest("docs"),
                "args": self._index_args(),
                "pyserini": version("pyserini"),
                "store": STORE_FORMAT,
            }
        )
        final = self.context.artifacts_dir / "lucene" / key
        if artefact_ready(final, "Lucene index"):
            return final
        # a full disk or read-only store inside Lucene is the same one-line storage error as Python's own writers
        with java_storage_errors(final):
            return build_artefact(final, lambda tmp: self._build(dataset, tmp))

    def _build(self, dataset: DatasetRef, out: Path) -> None:
        from pyserini.index.lucene import LuceneIndexer

        writer = LuceneIndexer(args=["-index", str(out), *self._index_args()], threads=self.context.threads)
        batch: list[dict[str, str]] = []
        for doc_id, text in tqdm(
            dataset.docs_iter(), total=dataset.docs_count(), desc=f"index {dataset.name}", unit="doc"
        ):
            batch.append({"id": doc_id, "contents": text})
            if len(batch) >= INDEX_BATCH:
                writer.add_batch_dict(batch)
                batch = []
        if batch:
            writer.add_batch_dict(batch)
        writer.close()


def timed_chunks(n: int, seconds: float, largest: int, first: int = 8) -> Iterator[slice]:
    """Consecutive slices of ``range(n)``, each sized from the time the caller took for the previous one so that a
    slice takes about ``seconds`` (at most ``largest`` items; growing at most twofold per slice)."""
    start, size = 0, first
    while start < n:
        stop = min(start + size, n)
        began = time.perf_counter()
        yield slice(start, stop)
        elapsed = time.perf_counter() - began
        done, start = stop - start, stop
        size = max(1, min(largest, 2 * done, int(done * seconds / max(elapsed, 1e-6))))
