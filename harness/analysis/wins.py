"""Per-query win analysis of systems against a baseline: win/tie/loss, the queries the baseline wins by the largest
margin, and *why* — query features (length, lexical overlap with the relevant documents, BM25 score of the top
relevant document), bucketed by quantile, with win rates per bucket.

Feature definitions (stored with every result, see FEATURES):
- ``query_terms``: number of word tokens in the query (lowercased ``\\w+`` tokens, stopwords kept).
- ``overlap``: for each judged-relevant document (qrels rel ≥ 1) the fraction of the query's distinct content terms
  (tokens minus English stopwords, no stemming) that occur in it; averaged over the query's relevant documents.
  ``overlap_rel2`` is the same over documents with rel ≥ 2 (graded collections such as TREC DL).
- ``bm25_top_rel``: the highest BM25 score among the query's relevant documents (rel ≥ 1), from a BM25 index or a
  BM25 run (see BM25Scores); ``bm25_top_rel2`` over rel ≥ 2 documents.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.stats import win_tie_loss

# NLTK's English stopword list (lowercase; contractions split by the tokeniser, e.g. "don't" -> "don", "t").
STOPWORDS = frozenset(
    [
        "i",
        "me",
        "my",
        "myself",
        "we",
        "our",
        "ours",
        "ourselves",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "he",
        "him",
        "his",
        "himself",
        "she",
        "her",
        "hers",
        "herself",
        "it",
        "its",
        "itself",
        "they",
        "them",
        "their",
        "theirs",
        "themselves",
        "what",
        "which",
        "who",
        "whom",
        "this",
        "that",
        "these",
        "those",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "do",
        "does",
        "did",
        "doing",
        "a",
        "an",
        "the",
        "and",
        "but",
        "if",
        "or",
        "because",
        "as",
        "until",
        "while",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "against",
        "between",
        "into",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "to",
        "from",
        "up",
        "down",
        "in",
        "out",
        "on",
        "off",
        "over",
        "under",
        "again",
        "further",
        "then",
        "once",
        "here",
        "there",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "no",
        "nor",
        "not",
        "only",
        "own",
        "same",
        "so",
        "than",
        "too",
        "very",
        "s",
        "t",
        "can",
        "will",
        "just",
        "don",
        "should",
        "now",
        "d",
        "ll",
        "m",
        "o",
        "re",
        "ve",
        "y",
        "ain",
        "aren",
        "couldn",
        "didn",
        "doesn",
        "hadn",
        "hasn",
        "haven",
        "isn",
        "ma",
        "mightn",
        "mustn",
        "needn",
        "shan",
        "shouldn",
        "wasn",
        "weren",
        "won",
        "wouldn",
    ]
)

FEATURES: dict[str, str] = {
    "query_terms": "query length: word tokens in the query (lowercased \\w+ tokens, stopwords kept)",
    "overlap": "lexical overlap: fraction of the query's distinct content terms (lowercased \\w+ tokens minus NLTK "
    "English stopwords, no stemming) found in a judged-relevant document (rel ≥ 1), averaged over the query's "
    "relevant documents whose text is available",
    "overlap_rel2": "as overlap, over documents judged rel ≥ 2 only",
    "bm25_top_rel": "BM25 score of the highest-scoring relevant document (rel ≥ 1)",
    "bm25_top_rel2": "as bm25_top_rel, over documents judged rel ≥ 2 only",
}
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


def bm25_from_index(index_dir: str | Path, analyzer, k1: float, b: float, source: str) -> BM25Scores:
    """Exact BM25 scores of any document from a Lucene index (pyserini), as LuceneSearcher computes them for a
    bag-of-words query: sum over distinct analysed query terms of (term count × BM25 weight of the term)."""
    from harness.core.java import prepare_jvm

    prepare_jvm()
    from pyserini.index.lucene import LuceneIndexReader

    reader = LuceneIndexReader(str(index_dir))

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


# ---------------------------------------------------------------- bucketing and wins
def quantile_buckets(values: pd.Series, n_buckets: int = 4) -> pd.DataFrame:
    """Quantile buckets of ``values`` (same index): columns bucket (1..k, 0 for undefined), label ("lo–hi" of the
    values actually in the bucket, or n/a), lo, hi. Tied values never straddle buckets, so discrete features may
    yield fewer than ``n_buckets`` buckets of unequal sizes."""
    v = pd.to_numeric(values, errors="coerce")
    ok = v.notna()
    out = pd.DataFrame({"bucket": 0, "label": NOT_AVAILABLE, "lo": np.nan, "hi": np.nan}, index=values.index)
    if ok.any():
        edges = np.unique(np.quantile(v[ok].to_numpy(dtype=float), np.linspace(0, 1, n_buckets + 1)))
        codes = (
            pd.cut(v[ok], edges, include_lowest=True, labels=False, duplicates="drop")
            if len(edges) > 1
            else pd.Series(0, index=v[ok].index)
        )
        out.loc[ok, "bucket"] = codes.astype(int) + 1
        for b in sorted(out.loc[ok, "bucket"].unique()):
            members = ok & (out["bucket"] == b)
            lo, hi = float(v[members].min()), float(v[members].max())
            out.loc[members, ["lo", "hi"]] = lo, hi
            out.loc[members, "label"] = f"{lo:.3g}" if lo == hi else f"{lo:.3g}–{hi:.3g}"
    out["bucket"] = out["bucket"].astype(int)
    return out


def per_query_deltas(per_query: pd.DataFrame, baseline: str, systems: list[str]) -> pd.DataFrame:
    """Long per-query table of one dataset: metric, system, query_id, baseline_value, system_value, delta
    (system − baseline, positive = system better). ``per_query`` has columns system, query_id, metric, value."""
    wide = per_query.pivot_table(index=["metric", "query_id"], columns="system", values="value", aggfunc="first")
    frames = []
    for s in systems:
        part = wide[[baseline, s]].dropna()
        frames.append(
            pd.DataFrame(
                {
                    "metric": part.index.get_level_values("metric"),
                    "baseline": baseline,
                    "system": s,
                    "query_id": part.index.get_level_values("query_id"),
                    "baseline_value": part[baseline].to_numpy(),
                    "system_value": part[s].to_numpy(),
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=["metric", "baseline", "system", "query_id", "baseline_value", "system_value", "delta"]
        )
    out = pd.concat(frames, ignore_index=True)
    out["delta"] = out["system_value"] - out["baseline_value"]
    return out


def outcome(delta: pd.Series | np.ndarray, tie_tolerance: float) -> np.ndarray:
    """'win' / 'tie' / 'loss' from the system's point of view, with the same rule as
    harness.analysis.stats.win_tie_loss."""
    d = np.asarray(delta, dtype=float)
    return np.where(d > tie_tolerance, "win", np.where(d < -tie_tolerance, "loss", "tie"))


def wtl_table(deltas: pd.DataFrame, tie_tolerance: float) -> pd.DataFrame:
    """W/T/L per (metric, baseline, system): wins, ties, losses, n."""
    rows = []
    for (metric, base, system), g in deltas.groupby(["metric", "baseline", "system"], sort=False):
        counts = win_tie_loss(g["baseline_value"].to_numpy(), g["system_value"].to_numpy(), tie_tolerance)
        rows.append({"metric": metric, "baseline": base, "system": system, **counts, "n": len(g)})
    return pd.DataFrame(rows, columns=["metric", "baseline", "system", "wins", "ties", "losses", "n"])


def bucket_table(
    deltas: pd.DataFrame, features: pd.DataFrame, tie_tolerance: float, n_buckets: int = 4
) -> pd.DataFrame:
    """Win rates per quantile bucket of every feature: one row per (metric, baseline, system, feature, bucket) with
    n, wins, ties, losses, win_rate (system wins), loss_rate (baseline wins), mean_delta, and the bucket's range."""
    columns = [
        "metric", "baseline", "system", "feature", "bucket", "label", "lo", "hi",
        "n", "wins", "ties", "losses", "win_rate", "loss_rate", "mean_delta",
    ]  # fmt: skip
    rows = []
    feats = features.set_index("query_id")
    for feature in feature_columns(features):
        buckets = quantile_buckets(feats[feature], n_buckets)
        merged = deltas.join(buckets, on="query_id", how="inner")
        merged["outcome"] = outcome(merged["delta"], tie_tolerance)
        keys = ["metric", "baseline", "system", "bucket", "label", "lo", "hi"]
        for key, g in merged.groupby(keys, sort=True, dropna=False):
            counts = g["outcome"].value_counts()
            n = len(g)
            wins, ties, losses = (int(counts.get(k, 0)) for k in ("win", "tie", "loss"))
            rows.append(
                dict(zip(keys, key, strict=True))
                | {
                    "feature": feature,
                    "n": n,
                    "wins": wins,
                    "ties": ties,
                    "losses": losses,
                    "win_rate": wins / n,
                    "loss_rate": losses / n,
                    "mean_delta": float(g["delta"].mean()),
                }
            )
    table = pd.DataFrame(rows, columns=columns)
    return table.astype({"bucket": int, "n": int, "wins": int, "ties": int, "losses": int})


def worst_queries(deltas: pd.DataFrame, features: pd.DataFrame, tie_tolerance: float, n: int = 10) -> pd.DataFrame:
    """Per (metric, baseline, system) the ``n`` queries the baseline wins by the largest margin (delta <
    −tie_tolerance), with the query text and its features; rank 1 = largest baseline win."""
    lost = deltas[deltas["delta"] < -tie_tolerance]
    ordered = lost.sort_values(["metric", "baseline", "system", "delta", "query_id"], kind="stable")
    top = ordered.groupby(["metric", "baseline", "system"], sort=False).head(n).copy()
    top["rank"] = top.groupby(["metric", "baseline", "system"], sort=False).cumcount() + 1
    return top.merge(features, on="query_id", how="left").reset_index(drop=True)
