"""Win analysis: query features on hand-made examples (the stopwords are Lucene's), quantile buckets, W/T/L per bucket,
worst queries, exact BM25 scores of relevant documents from a Lucene index, the plotted values, the compare() API."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.colors
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.analysis import features, plots, wins
from harness.analysis.comparison import compare
from harness.core.significance import Correction, Test

QUERIES = {
    "q1": "What causes pain in the right pelvis?",  # content terms: what, causes, pain, right, pelvis
    "q2": "the of and",  # stopwords only: overlap undefined
    "q3": "sous vide cooking",
}
QRELS = {
    "q1": {"d1": 2, "d2": 1, "d3": 0},
    "q2": {"d1": 1},
    "q3": {"d4": 1, "d5": 3},
    "q9": {"d1": 1},  # judged but not a query of the dataset: ignored
}
DOCS = {
    "d1": "Pelvic pain on the RIGHT side: causes include appendicitis.",  # causes, pain, right (not what, pelvis)
    "d2": "The pelvis hurts.",  # pelvis
    "d3": "Pain, pain, right pelvis causes.",  # all four, but judged non-relevant
    "d4": "Cooking eggs sous-vide",  # sous, vide, cooking
    "d5": "A water bath.",  # none
}


def _texts(ids: list[str]) -> dict[str, str]:
    return {d: DOCS[d] for d in ids if d in DOCS}


def test_tokenising_and_term_overlap() -> None:
    assert features.tokenize("Don't PANIC, it's 42!") == ["don", "t", "panic", "it", "s", "42"]
    assert features.content_terms(QUERIES["q1"]) == ["what", "causes", "pain", "right", "pelvis"]
    assert features.term_overlap(QUERIES["q1"], DOCS["d1"]) == 0.6
    assert features.term_overlap(QUERIES["q1"], DOCS["d2"]) == 0.2
    assert math.isnan(features.term_overlap("the of and", "the of and"))
    assert features.lexical_overlap(QUERIES["q1"], [DOCS["d1"], DOCS["d2"]]) == pytest.approx(0.4)
    assert math.isnan(features.lexical_overlap(QUERIES["q1"], []))


def test_stopwords_are_lucenes_english_set() -> None:
    """The overlap feature removes the stopwords the suites' BM25 removes: Lucene's EnglishAnalyzer set."""
    from harness.core.java import prepare_jvm

    prepare_jvm()
    import pyserini.analysis  # noqa: F401  # puts Anserini's jar (with Lucene) on the JVM's class path
    from jnius import autoclass

    it = autoclass("org.apache.lucene.analysis.en.EnglishAnalyzer").ENGLISH_STOP_WORDS_SET.iterator()
    lucene = set()
    while it.hasNext():
        word = it.next()
        lucene.add(word if isinstance(word, str) else "".join(word))
    assert lucene == features.STOPWORDS and len(lucene) == 33


def test_query_features_on_a_hand_made_collection() -> None:
    run = {"q1": {"d2": 7.5, "d3": 9.0, "d9": 3.0}, "q3": {"d9": 1.0}}
    bm25 = features.bm25_from_run(run, "test run")
    f = features.query_features(QUERIES, QRELS, _texts, bm25).set_index("query_id")
    assert list(f.index) == ["q1", "q2", "q3"]
    assert f.loc["q1", "query_terms"] == 7
    assert f.loc["q1", "content_terms"] == 5
    assert f.loc["q1", "n_relevant"] == 2  # d3 is judged 0
    assert f.loc["q1", "overlap"] == pytest.approx((0.6 + 0.2) / 2)
    assert f.loc["q1", "overlap_rel2"] == pytest.approx(0.6)  # graded qrels: d1 only
    assert math.isnan(f.loc["q2", "overlap"])
    assert f.loc["q3", "overlap"] == pytest.approx((1.0 + 0.0) / 2)
    assert f.loc["q3", "overlap_rel2"] == 0.0
    # BM25: the max over relevant docs present in the run; the non-relevant d3 scores higher but does not count
    assert f.loc["q1", "bm25_top_rel"] == 7.5
    assert math.isnan(f.loc["q1", "bm25_top_rel2"])  # d1 (rel 2) not retrieved
    assert math.isnan(f.loc["q3", "bm25_top_rel"])
    assert features.feature_columns(f.reset_index()) == [
        "query_terms", "overlap", "overlap_rel2", "bm25_top_rel", "bm25_top_rel2"
    ]  # fmt: skip


def test_binary_qrels_have_no_graded_variants() -> None:
    f = features.query_features({"q": "sous vide"}, {"q": {"d4": 1}}, _texts)
    assert "overlap_rel2" not in f.columns and "bm25_top_rel" not in f.columns
    assert f["overlap"].tolist() == [1.0]


def test_quantile_buckets_keep_ties_together_and_mark_undefined() -> None:
    values = pd.Series([1, 2, 3, 4, 5, 6, 7, 8, np.nan], index=list("abcdefghi"))
    b = wins.quantile_buckets(values, 4)
    assert b["bucket"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 0]
    assert b.loc["i", "label"] == features.NOT_AVAILABLE
    assert b.loc["c", "label"] == "3–4" and b.loc["c", "lo"] == 3 and b.loc["c", "hi"] == 4
    tied = wins.quantile_buckets(pd.Series([1, 1, 1, 1, 1, 1, 2, 3]), 4)
    assert tied["bucket"].tolist() == [1, 1, 1, 1, 1, 1, 2, 2]  # fewer buckets, never a split tie
    assert tied["label"].tolist()[-1] == "2–3"
    same = wins.quantile_buckets(pd.Series([0.5, 0.5]), 4)
    assert same["bucket"].tolist() == [1, 1] and same["label"].tolist() == ["0.5", "0.5"]


def _deltas() -> pd.DataFrame:
    per_query = pd.DataFrame(
        [
            (s, q, "nDCG@10", v)
            for s, values in {
                "bm25": [0.5, 0.5, 0.2, 0.9, 0.0, 0.4],
                "dense": [0.7, 0.5, 0.1, 0.2, 0.3, 0.41],
            }.items()
            for q, v in zip(["a", "b", "c", "d", "e", "f"], values, strict=True)
        ],
        columns=["system", "query_id", "metric", "value"],
    )
    return wins.per_query_deltas(per_query, "bm25", ["dense"])


def test_win_tie_loss_buckets_and_worst_queries() -> None:
    deltas = _deltas()
    assert deltas.set_index("query_id")["delta"].round(6).to_dict() == {
        "a": 0.2, "b": 0.0, "c": -0.1, "d": -0.7, "e": 0.3, "f": 0.01
    }  # fmt: skip
    wtl = wins.wtl_table(deltas, tie_tolerance=0.05)
    assert wtl.iloc[0][["wins", "ties", "losses", "n"]].tolist() == [2, 2, 2, 6]  # f (0.01) is a tie
    features = pd.DataFrame({"query_id": list("abcdef"), "query": list("ABCDEF"), "overlap": [0, 0, 0, 1, 1, 1]})
    buckets = wins.bucket_table(deltas, features, 0.05, n_buckets=2)
    low, high = buckets.sort_values("bucket").to_dict("records")
    assert (low["n"], low["wins"], low["ties"], low["losses"]) == (3, 1, 1, 1)  # a win, b tie, c loss
    assert (high["n"], high["wins"], high["ties"], high["losses"]) == (3, 1, 1, 1)  # e win, f tie, d loss
    assert low["loss_rate"] == pytest.approx(1 / 3) and high["mean_delta"] == pytest.approx((-0.7 + 0.3 + 0.01) / 3)
    worst = wins.worst_queries(deltas, features, 0.05, n=5)
    assert worst["query_id"].tolist() == ["d", "c"]  # baseline wins, largest margin first
    assert worst["rank"].tolist() == [1, 2] and worst["query"].tolist() == ["D", "C"]


def test_bm25_scores_from_an_index_equal_lucene_search_scores(tmp_path: Path) -> None:
    from harness.core.java import prepare_jvm

    prepare_jvm()
    from pyserini.analysis import get_lucene_analyzer
    from pyserini.index.lucene import LuceneIndexer, LuceneIndexReader
    from pyserini.search.lucene import LuceneSearcher

    index = tmp_path / "index"
    writer = LuceneIndexer(args=["-index", str(index), "-stemmer", "porter", "-storeDocvectors"], threads=1)
    writer.add_batch_dict([{"id": d, "contents": t} for d, t in DOCS.items()])
    writer.close()
    analyzer = get_lucene_analyzer(stemming=True, stemmer="porter", stopwords=True)
    scorer = features.bm25_from_index_reader(LuceneIndexReader(str(index)), analyzer, 0.9, 0.4, "test index")
    searcher = LuceneSearcher(str(index))
    searcher.set_bm25(0.9, 0.4)
    query = "pain pain right pelvis causes"  # a repeated term counts twice, as in Anserini's bag-of-words query
    hits = {h.docid: h.score for h in searcher.search(query, k=10)}
    assert set(hits) == {"d1", "d2", "d3"}
    for docs in (["d1"], ["d2"], ["d1", "d2"], ["d3", "d2"]):
        assert scorer.top_score("q", query, docs) == pytest.approx(max(hits[d] for d in docs), abs=1e-4)
    assert scorer.top_score("q", query, ["d5"]) == 0.0  # no query term: BM25 score 0
    assert scorer.top_score("q", query, ["d1", "no-such-doc"]) == pytest.approx(hits["d1"], abs=1e-4)
    assert math.isnan(scorer.top_score("q", query, ["no-such-doc"]))
    assert math.isnan(scorer.top_score("q", query, []))


def test_plots_show_the_computed_values() -> None:
    deltas = _deltas()
    feats = pd.DataFrame({"query_id": list("abcdef"), "query": list("ABCDEF"), "overlap": [0, 0, 0, 1, 1, np.nan]})
    buckets = wins.bucket_table(deltas, feats, 0.0, n_buckets=2)
    labels = {"bm25": "BM25", "dense": "Dense"}
    # per-query Δ: sorted steps (query i is [i, i + 1)), coloured by the win/tie/loss rule, W/T/L in the title
    ax = plots.delta_bars(deltas, labels, 0.0, "deltas").axes[0]
    fills = {matplotlib.colors.to_hex(c.get_facecolor()[0]): c.get_paths()[0].vertices for c in ax.collections}
    heights = {k: sorted({round(y, 6) for y in fills[c][:, 1]} - {0.0}) for k, c in (("loss", plots.LOSS),
               ("tie", plots.TIE), ("win", plots.WIN))}  # fmt: skip
    assert heights == {"loss": [-0.7, -0.1], "tie": [], "win": [0.01, 0.2, 0.3]}
    assert ax.get_title() == "Dense\nW/T/L 3/1/2"
    # win rates by bucket: the system's (solid) and the baseline's (dashed) rates of bucket_table; n/a drawn apart
    fig = plots.bucket_win_rates(buckets, labels, "buckets")
    top = fig.axes[0]
    ticks = [t.get_text() for t in top.get_xticklabels()]
    assert top.get_title() == "overlap" and ticks == ["0–1\n(n=5)", "n/a\n(n=1)"]  # 0 and 1: too few values for two
    line, baseline_wins = [ln for ln in top.get_lines() if ln.get_linestyle() in ("-", "--")]
    assert line.get_label() == "Dense" and line.get_ydata().tolist() == pytest.approx([2 / 5])  # a, e of 5
    assert baseline_wins.get_ydata().tolist() == pytest.approx([2 / 5])  # c, d of 5
    apart = [ln.get_ydata().tolist() for ln in top.get_lines() if ln.get_linestyle() == "None"]
    assert apart == [[1.0], [0.0]]  # f (n/a): won by the system, not joined to the buckets
    # quality against cost: every point, the frontier through the undominated ones
    cost = pd.DataFrame(
        {"label": ["BM25", "Dense", "Slow"], "seconds_per_1k": [2.0, 30.0, 90.0], "value": [0.5, 0.6, 0.55]}
    ).assign(imported=[False, False, True])
    ax = plots.cost_scatter(cost, "nDCG@10", "cost").axes[0]
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    np.testing.assert_allclose(points, [[2.0, 0.5], [30.0, 0.6], [90.0, 0.55]])
    (frontier,) = ax.get_lines()
    assert frontier.get_xdata().tolist() == [2.0, 30.0] and frontier.get_ydata().tolist() == [0.5, 0.6]
    assert plots.pareto_frontier(cost)["label"].tolist() == ["BM25", "Dense"]  # Slow is dominated


def test_compare_api_on_per_query_frames() -> None:
    """compare() takes a plain DataFrame (no suite, no store): p-values from scipy, the correction over every row."""
    rng = np.random.default_rng(5)
    rows = []
    for measure in ("nDCG@10", "R@100"):
        base = rng.random(40)
        for system, shift in (("bm25", 0.0), ("dense", 0.1), ("sparse", 0.0)):
            noise = 0 if system == "bm25" else rng.normal(0, 0.1, 40)
            rows += [(system, f"q{i}", measure, v) for i, v in enumerate(np.clip(base + shift + noise, 0, 1))]
    pq = pd.DataFrame(rows, columns=["system", "query_id", "measure", "value"])
    cmp = compare(pq, baselines="bm25", test="t-test", correction=Correction.BONFERRONI, tie_tolerance=0.01)
    assert cmp.test is Test.T_TEST and cmp.correction is Correction.BONFERRONI
    frame = cmp.to_frame()
    assert list(frame.columns[:4]) == ["measure", "baseline", "system", "n"]  # no dataset column given: none back
    assert len(frame) == 4
    wide = pq.pivot_table(index=["measure", "query_id"], columns="system", values="value")
    for r in frame.itertuples(index=False):
        a, b = wide.loc[r.measure, r.system].to_numpy(), wide.loc[r.measure, "bm25"].to_numpy()
        assert r.p == pytest.approx(stats.ttest_rel(a, b).pvalue)
        assert r.p_corrected == pytest.approx(min(r.p * 4, 1.0))
        assert r.delta == pytest.approx(a.mean() - b.mean()) and r.mean == pytest.approx(a.mean())
        assert (r.wins, r.ties, r.losses) == (
            int((a - b > 0.01).sum()), int((abs(a - b) <= 0.01).sum()), int((a - b < -0.01).sum())
        )  # fmt: skip
    assert cmp.to_dict()["settings"]["n_comparisons"] == 4 and len(cmp.to_dict()["comparisons"]) == 4
    latex = cmp.to_latex()
    dense = frame[(frame["system"] == "dense") & (frame["measure"] == "nDCG@10")].iloc[0]
    assert dense["significant"] and f"dense & {dense['mean']:.4f}$^{{\\blacktriangle}}$" in latex
    assert r"\toprule" in latex and "Bonferroni correction over all 4 comparisons" in latex
    with pytest.raises(ValueError, match="unknown significance test 'z-test'"):
        compare(pq, test="z-test")
