"""Runs, judgments and topics from what a notebook has: a file path, a DataFrame, or an ir_datasets id.

``load_run`` → Run (query id → {doc id: score}); ``load_qrels`` → query id → {doc id: relevance};
``load_topics`` → query id → text. Bad input is a one-line HarnessError naming the file or the missing columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from harness.core.collection_files import read_qrels, read_texts
from harness.core.downloads import guard
from harness.core.errors import HarnessError
from harness.core.run import Run

RunLike = str | Path | pd.DataFrame | Run
QrelsLike = str | Path | pd.DataFrame | Mapping[str, Mapping[str, int]]
TopicsLike = str | Path | pd.DataFrame | Mapping[str, str]


def _columns(frame: pd.DataFrame, needed: tuple[str, ...], what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise HarnessError(f"a {what} DataFrame needs columns {', '.join(needed)} (missing: {', '.join(missing)})")


def load_run(run: RunLike) -> Run:
    """A Run from a TREC run file (plain or .gz), a DataFrame [query_id, doc_id, score], or a Run (returned as is)."""
    if isinstance(run, Run):
        return run
    if isinstance(run, pd.DataFrame):
        _columns(run, ("query_id", "doc_id", "score"), "run")
        scores: dict[str, dict[str, float]] = {}
        for qid, did, score in zip(run["query_id"], run["doc_id"], run["score"], strict=True):
            scores.setdefault(str(qid), {})[str(did)] = float(score)
        out = Run(scores)
        out.validate(source="run DataFrame")
        return out
    return Run.read_trec(run)


def _is_path(value: object) -> bool:
    return isinstance(value, Path) or (isinstance(value, str) and Path(value).exists())


def load_qrels(qrels: QrelsLike) -> dict[str, dict[str, int]]:
    """Judgments from a TREC qrels file (``qid iter docid rel``, plain or .gz), a DataFrame
    [query_id, doc_id, relevance], a mapping, or an ir_datasets id (a string that is not a file)."""
    if isinstance(qrels, pd.DataFrame):
        _columns(qrels, ("query_id", "doc_id", "relevance"), "qrels")
        out: dict[str, dict[str, int]] = {}
        for qid, did, rel in zip(qrels["query_id"], qrels["doc_id"], qrels["relevance"], strict=True):
            out.setdefault(str(qid), {})[str(did)] = int(rel)
        return out
    if isinstance(qrels, Mapping):
        return {str(q): {str(d): int(r) for d, r in docs.items()} for q, docs in qrels.items()}
    if _is_path(qrels):
        path = _regular_file(Path(qrels))
        out: dict[str, dict[str, int]] = {}
        for _, qid, did, rel in read_qrels(path, str(path)):
            out.setdefault(qid, {})[did] = rel
        return out
    return {q: dict(docs) for q, docs in _irds(str(qrels)).qrels_dict().items()}


def load_topics(topics: TopicsLike) -> dict[str, str]:
    """Query texts from a file (TSV ``qid<TAB>text``, JSON lines or TREC topics, as harness.core.collection_files
    reads them), a DataFrame [query_id, text], a mapping, or an ir_datasets id."""
    if isinstance(topics, pd.DataFrame):
        _columns(topics, ("query_id", "text"), "topics")
        return {str(q): str(t) for q, t in zip(topics["query_id"], topics["text"], strict=True)}
    if isinstance(topics, Mapping):
        return {str(q): str(t) for q, t in topics.items()}
    if _is_path(topics):
        path = _regular_file(Path(topics))
        return {qid: text for _, qid, text in read_texts(path, str(path), "queries")}
    return {q.query_id: q.default_text() for q in _irds(str(topics)).queries_iter()}


def _regular_file(path: Path) -> Path:
    if not path.is_file():
        raise HarnessError("not a regular file", file=str(path))
    return path


def _irds(dataset_id: str):  # ir_datasets has no public dataset type to name
    import ir_datasets

    guard()  # reading judgments or topics never downloads

    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise HarnessError(f"{dataset_id!r} is neither a file nor an ir_datasets id") from None
