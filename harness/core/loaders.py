"""Runs, judgments and topics from what a notebook has: a file path, a DataFrame, or an ir_datasets id.

``load_run`` → Run (query id → {doc id: score}); ``load_qrels`` → query id → {doc id: relevance};
``load_topics`` → query id → text. Bad input is a one-line HarnessError naming the file or the missing columns.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

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
        return _read_qrels_file(Path(qrels))
    return {q: dict(docs) for q, docs in _irds(str(qrels)).qrels_dict().items()}


def load_topics(topics: TopicsLike) -> dict[str, str]:
    """Query texts from a TSV file (``qid<TAB>text``), a DataFrame [query_id, text], a mapping, or an ir_datasets id."""
    if isinstance(topics, pd.DataFrame):
        _columns(topics, ("query_id", "text"), "topics")
        return {str(q): str(t) for q, t in zip(topics["query_id"], topics["text"], strict=True)}
    if isinstance(topics, Mapping):
        return {str(q): str(t) for q, t in topics.items()}
    if _is_path(topics):
        path = Path(topics)
        out = {}
        for lineno, line in enumerate(_lines(path), start=1):
            if not line.strip():
                continue
            qid, sep, text = line.rstrip("\n").partition("\t")
            if not sep:
                raise HarnessError("expected 'qid<TAB>text'", file=str(path), line=lineno)
            out[qid] = text
        return out
    return {q.query_id: q.default_text() for q in _irds(str(topics)).queries_iter()}


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise HarnessError("not a regular file", file=str(path))
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as f:
            return f.readlines()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise HarnessError(f"unreadable: {e}", file=str(path)) from None


def _read_qrels_file(path: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for lineno, line in enumerate(_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise HarnessError(f"expected 4 fields 'qid iter docid rel', got {len(parts)}", file=str(path), line=lineno)
        qid, _, did, rel = parts
        try:
            out.setdefault(qid, {})[did] = int(rel)
        except ValueError:
            raise HarnessError(f"relevance {rel!r} is not an integer", file=str(path), line=lineno) from None
    return out


def _irds(dataset_id: str):  # ir_datasets has no public dataset type to name
    import ir_datasets

    guard()  # reading judgments or topics never downloads

    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise HarnessError(f"{dataset_id!r} is neither a file nor an ir_datasets id") from None
