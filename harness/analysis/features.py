"""Query features for the win analysis: why a baseline wins on some queries. Pure functions of the queries, the
judgments, the relevant documents' text and (optionally) BM25 scores given as input; nothing here reads a file.

Feature definitions (stored with every result, see FEATURES):
- ``query_terms``: number of word tokens in the query (lowercased ``\\w+`` tokens, stopwords kept).
- ``overlap``: for each judged-relevant document (qrels rel ≥ 1) the fraction of the query's distinct content terms
  (tokens minus Lucene's English stopwords, no stemming) that occur in it; averaged over the query's relevant documents.
  ``overlap_rel2`` is the same over documents with rel ≥ 2 (graded collections such as TREC DL).
- ``bm25_top_rel``: the highest BM25 score among the query's relevant documents (rel ≥ 1), from BM25 scores given as
  input (see BM25Scores); ``bm25_top_rel2`` over rel ≥ 2 documents.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# Lucene's English stopword set (org.apache.lucene.analysis.en.EnglishAnalyzer.ENGLISH_STOP_WORDS_SET), which the
# suites' BM25 (Anserini's DefaultEnglishAnalyzer) removes; tests/test_analysis.py checks it against Lucene's own.
STOPWORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
    "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
])  # fmt: skip

FEATURES: dict[str, str] = {
    "query_terms": "query length: word tokens in the query (lowercased \\w+ tokens, stopwords kept)",
    "overlap": "lexical overlap: fraction of the query's distinct content terms (lowercased \\w+ tokens minus Lucene's "
    "English stopwords, no stemming) found in a judged-relevant document (rel ≥ 1), averaged over the query's "
    "relevant documents whose text is available",
    "overlap_rel2": "as overlap, over documents judged rel ≥ 2 only",
    "bm25_top_rel": "BM25 score of the highest-scoring relevant document (rel ≥ 1)",
    "bm25_top_rel2": "as bm25_top_rel, over documents judged rel ≥ 2 only",
}
DOC_FEATURES = ("overlap", "overlap_rel2")  # the features that read the relevant documents' text
NOT_AVAILABLE = "n/a"  # bucket of queries whose feature is undefined (e.g. no relevant doc in the BM25 run)

_TOKEN = re.compile(r"\w+")


# ---------------------------------------------------------------- text features
def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def content_terms(text: str) -> list[str]:
    return [t for t in tokenize(text) if t not in STOPWORDS]


def term_overlap(query: str, doc: str) -> float:
    """Fraction of the query's distinct content terms present in ``doc``; NaN for a query with none."""
    q = set(content_terms(query))
    if not q:
        return math.nan
    return len(q & set(tokenize(doc))) / len(q)


def lexical_overlap(query: str, docs: Iterable[str]) -> float:
    """Mean :func:`term_overlap` over ``docs``; NaN when there are no docs or the query has no content terms."""
    values = [term_overlap(query, d) for d in docs]
    return float(np.mean(values)) if values and not math.isnan(values[0]) else math.nan


# ---------------------------------------------------------------- BM25 scores of relevant documents
@dataclass
class BM25Scores:
    """Where ``bm25_top_rel`` comes from, and the scores: ``score(query_id, query, doc_ids) -> max score or NaN``.

    ``source`` is a sentence for the report: which system, and whether scores are exact for every relevant document
    (an index) or known only for documents in a BM25 run's top k (NaN = no relevant document retrieved).
    """

    source: str
    top_score: Callable[[str, str, list[str]], float]


def bm25_from_run(run_scores: Mapping[str, Mapping[str, float]], source: str) -> BM25Scores:
    """Scores of a BM25 run. The run is a top-k by score, so when any relevant document is in it the max over those
    retrieved is the true max; when none is, the value is NaN (lower than the run's k-th score)."""

    def top(query_id: str, _query: str, doc_ids: list[str]) -> float:
        docs = run_scores.get(query_id, {})
        found = [docs[d] for d in doc_ids if d in docs]
        return max(found) if found else math.nan

    return BM25Scores(source, top)


def bm25_from_index_reader(reader: Any, analyzer: Any, k1: float, b: float, source: str) -> BM25Scores:
    """Exact BM25 scores of any document from an open Lucene index (a pyserini ``LuceneIndexReader`` and the
    analyzer the index was built with), as LuceneSearcher computes them for a bag-of-words query: sum over distinct
    analysed query terms of (term count × BM25 weight of the term). The caller opens the index."""

    def top(_query_id: str, query: str, doc_ids: list[str]) -> float:
        if not doc_ids:
            return math.nan
        terms = Counter(reader.analyze(query, analyzer))
        best = -math.inf
        for d in doc_ids:
            if reader.convert_collection_docid_to_internal_docid(d) < 0:
                continue  # a judged doc missing from the corpus (Anserini would score it 0)
            s = sum(c * reader.compute_bm25_term_weight(d, t, analyzer=None, k1=k1, b=b) for t, c in terms.items())
            best = max(best, s)
        return best if best > -math.inf else math.nan

    return BM25Scores(source, top)


def query_features(
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    doc_texts: Callable[[list[str]], Mapping[str, str]],
    bm25: BM25Scores | None = None,
) -> pd.DataFrame:
    """One row per judged query: query_id, query, query_terms, content_terms, n_relevant, n_relevant_text,
    overlap, [overlap_rel2,] [bm25_top_rel, [bm25_top_rel2]]. Graded variants appear when some qrel is ≥ 2."""
    graded = any(r >= 2 for rels in qrels.values() for r in rels.values())
    wanted = sorted({d for q, rels in qrels.items() if q in queries for d, r in rels.items() if r > 0})
    texts = doc_texts(wanted) if wanted else {}
    rows = []
    for qid, rels in qrels.items():
        if qid not in queries:
            continue
        text = queries[qid]
        relevant = [d for d, r in rels.items() if r > 0]
        row = {
            "query_id": qid,
            "query": text,
            "query_terms": len(tokenize(text)),
            "content_terms": len(set(content_terms(text))),
            "n_relevant": len(relevant),
            "n_relevant_text": sum(d in texts for d in relevant),
            "overlap": lexical_overlap(text, [texts[d] for d in relevant if d in texts]),
        }
        highly = [d for d, r in rels.items() if r >= 2]
        if graded:
            row["overlap_rel2"] = lexical_overlap(text, [texts[d] for d in highly if d in texts])
        if bm25 is not None:
            row["bm25_top_rel"] = bm25.top_score(qid, text, relevant)
            if graded:
                row["bm25_top_rel2"] = bm25.top_score(qid, text, highly)
        rows.append(row)
    return pd.DataFrame(rows)


def feature_columns(features: pd.DataFrame) -> list[str]:
    return [c for c in FEATURES if c in features.columns]


def dataset_features(
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    doc_texts: Callable[[list[str]], Mapping[str, str]],
    bm25: BM25Scores | None,
    no_docs: str | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The features of one dataset's judged queries, without the features undefined for every query, and the facts
    a report states about them. ``no_docs``: why no document text is available; the features that need it
    (DOC_FEATURES) are then skipped with that reason, and ``doc_texts`` is never called."""
    judged = {q: r for q, r in qrels.items() if q in queries}
    f = query_features(queries, judged, (lambda ids: {}) if no_docs else doc_texts, bm25)
    empty = [c for c in feature_columns(f) if f[c].isna().all()]
    f = f.drop(columns=empty)
    dropped = {c: "undefined for every query" for c in empty}
    if no_docs:
        graded = any(r >= 2 for rels in judged.values() for r in rels.values())
        dropped |= {c: f"needs document text: {no_docs}" for c in DOC_FEATURES if graded or c == "overlap"}
    facts: dict[str, Any] = {
        "bm25_source": bm25.source if bm25 else None,
        "relevant_docs": int(f["n_relevant"].sum()),
        "relevant_docs_with_text": int(f["n_relevant_text"].sum()),
        "dropped_features": dropped,
        "undefined": {c: int(f[c].isna().sum()) for c in feature_columns(f)},
    }
    return f, facts


def skipped_features_notes(dataset: str, facts: Mapping[str, Any]) -> list[str]:
    """One sentence per feature skipped for lack of document text, for the comparison's notes."""
    return [
        f"{dataset}: query feature {c} skipped ({why})"
        for c, why in facts.get("dropped_features", {}).items()
        if c in DOC_FEATURES and why.startswith("needs document text")
    ]
