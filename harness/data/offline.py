"""Lay out an ir_datasets home from a plain folder of collection files laid out like ../shared/data, so the real
ir_datasets code loads the collections with no network. Each collection is laid out when its files are in the folder
and left out otherwise; nothing in the folder is run.

Why this works (ir_datasets 0.6.3): a download whose ``cache_path`` exists is used as-is (no request, no MD5 check),
and so is an existing Cache target; msmarco-passage's Migrator deletes collection.tsv unless irds_version.txt says
'v2', so that is written first.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import re
import shutil
import tokenize
import zipfile
from pathlib import Path

from harness.core.errors import HarnessError
from harness.data.irds_extra import EXTRA

ANSERINI_DIR = ("beir", "_anserini-topics-qrels")
# Anserini's BEIR name → (ir_datasets sub-path, query metadata fields ir_datasets reads, left empty)
BEIR_QUERIES_QRELS = {
    "climate-fever": ("climate-fever", {}), "dbpedia-entity": ("dbpedia-entity", {}), "fever": ("fever", {}),
    "fiqa": ("fiqa", {}), "hotpotqa": ("hotpotqa", {}), "nfcorpus": ("nfcorpus", {"url": ""}), "nq": ("nq", {}),
    "quora": ("quora", {}), "scidocs": ("scidocs", {"authors": [], "year": None, "cited_by": [], "references": []}),
    "trec-covid": ("trec-covid", {"query": "", "narrative": ""}),
    "webis-touche2020": ("webis-touche2020/v2", {"description": "", "narrative": ""}),
    **{f"cqadupstack-{s}": (f"cqadupstack/{s}", {"tags": []}) for s in (
        "android", "english", "gaming", "gis", "mathematica", "physics", "programmers", "stats", "tex", "unix",
        "webmasters", "wordpress")},
}  # fmt: skip


def prepare(home: Path, source: Path) -> list[str]:
    """Lay out ``home`` from ``source``; returns what was laid out (one entry per collection or file)."""
    if not source.is_dir():
        raise HarnessError("not a folder", file=str(source), field="--source")
    placed = [
        *_classic(home, source),
        *_beir_full(home, source),
        *_beir_queries_qrels(home, source),
        *_msmarco_passage(home, source),
        *_beir_extra(home, source),
        *_robust04_topics(home, source),
    ]
    if not placed:
        raise HarnessError("no collection files found (expected a folder laid out like ../shared/data)",
                           file=str(source), field="--source")  # fmt: skip
    return placed


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", newline="\n")


def _text(path: Path) -> str:
    """A text file with CRLF/CR line ends made LF."""
    with open(path, encoding="utf-8", newline="") as f:
        return f.read().replace("\r\n", "\n").replace("\r", "\n")


def _classic(home: Path, source: Path) -> list[str]:
    placed = []
    classic = (("cranfield", ("cran.all.1400", "cran.qry", "cranqrel")), ("vaswani", (None, "query-text", "rlv-ass")))
    for name, files in classic:
        found = [source / name / f for f in files if f is not None]
        if not all(p.exists() for p in found):
            continue
        for src, dst in zip(files, ("docs.txt", "queries.txt", "qrels.txt"), strict=True):
            if src is not None:
                _write(home / name / dst, _text(source / name / src))
        placed.append(name)
    trec = source / "vaswani" / "pyterrier-trec" / "doc-text.trec"
    if "vaswani" in placed and trec.exists():
        # the original NPL 'doc-text' layout ("<id>\n<body lines>   /\n") from PyTerrier's TREC copy
        docs = re.findall(r"<DOC>\n<DOCNO>(\d+)</DOCNO>\n(.*?)</DOC>\n", trec.read_text(encoding="utf-8"), re.S)
        _write(home / "vaswani" / "docs.txt", "".join(f"{d}\n{body}   /\n" for d, body in docs))
    return placed


def _numpy_str_array(s: str) -> list[str]:
    """ "['a' 'b'\\n 'c']" (the repr of a numpy array of str) → ['a', 'b', 'c']."""
    s = s.strip()
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(s[1:-1]).readline):
        if tok.type == tokenize.STRING:
            out.append(ast.literal_eval(tok.string))
    return out


def _scifact_corpus(zip_path: Path) -> str:
    """BEIR's SciFact corpus.jsonl rebuilt from the SciFact corpus CSV: text = ' '.join(abstract sentences)."""
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(zip_path) as z:
        rows = list(csv.DictReader(io.TextIOWrapper(z.open("corpus_train.csv"), encoding="utf-8", newline="")))
    lines = [
        json.dumps({"_id": r["doc_id"], "title": r["title"], "text": " ".join(_numpy_str_array(r["abstract"])),
                    "metadata": {}})
        for r in rows
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def _beir_full(home: Path, source: Path) -> list[str]:
    placed = []
    scifact = source / "beir" / "scifact"
    if (scifact / "claimverifier-scifact.zip").exists() and (scifact / "queries.jsonl").exists():
        members = {
            "scifact/corpus.jsonl": _scifact_corpus(scifact / "claimverifier-scifact.zip"),
            "scifact/queries.jsonl": _text(scifact / "queries.jsonl"),
            **{f"scifact/qrels/{s}.tsv": _text(scifact / "qrels" / f"{s}.tsv") for s in ("test", "train")},
        }
        _zip(home / "beir" / "scifact" / "source.zip", members)
        placed.append("beir/scifact")
    arguana = source / "beir" / "arguana"
    if all((arguana / f).exists() for f in ("corpus.jsonl.gz", "queries.jsonl.gz", "test.tsv")):
        members = {
            "arguana/corpus.jsonl": gzip.decompress((arguana / "corpus.jsonl.gz").read_bytes()),
            "arguana/queries.jsonl": gzip.decompress((arguana / "queries.jsonl.gz").read_bytes()),
            "arguana/qrels/test.tsv": _text(arguana / "test.tsv"),
        }
        _zip(home / "beir" / "arguana" / "source.zip", members)
        placed.append("beir/arguana")
    return placed


def _zip(path: Path, members: dict[str, str | bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _beir_queries_qrels(home: Path, source: Path) -> list[str]:
    """Queries + test qrels (no corpus) of the other BEIR sets from Anserini's files, written to ir_datasets' Cache
    targets beir/<ds>/queries.json and beir/<ds>/test.qrels."""
    folder, placed = source.joinpath(*ANSERINI_DIR), []
    for name, (sub, extra) in BEIR_QUERIES_QRELS.items():
        topics, qrels = folder / f"topics.beir-v1.0.0-{name}.test.tsv.gz", folder / f"qrels.beir-v1.0.0-{name}.test.txt"
        if not (topics.exists() and qrels.exists()):
            continue
        queries = []
        with gzip.open(topics, "rt", encoding="utf-8") as lines:
            for line in lines:
                qid, text = line.rstrip("\n").split("\t", 1)
                queries.append(json.dumps({"_id": qid, "text": text, "metadata": dict(extra)}))
        _write(home / "beir" / sub / "queries.json", "\n".join(queries) + "\n")
        rows = ["query-id\tcorpus-id\tscore"]
        with open(qrels, encoding="utf-8") as lines:
            for line in lines:
                qid, _, did, rel = line.split()
                rows.append(f"{qid}\t{did}\t{rel}")
        _write(home / "beir" / sub / "test.qrels", "\n".join(rows) + "\n")
        placed.append(f"beir/{sub}")
    return placed


def _msmarco_passage(home: Path, source: Path) -> list[str]:
    src, base = source / "msmarco-passage", home / "msmarco-passage"
    runs = sorted((src / "runs-rankllm").glob("*.retrieve_results_dl*.json"))
    if not runs:
        return []
    _write(base / "irds_version.txt", "v2")  # before collection.tsv: the Migrator deletes it otherwise
    docs = {}  # the partial collection: every passage in the staged runs
    for path in runs:
        for entry in json.loads(path.read_text(encoding="utf-8")):
            for hit in entry["hits"]:
                docs[str(hit["docid"])] = " ".join(hit["content"].split())
    _write(base / "collection.tsv", "\n".join(f"{k}\t{docs[k]}" for k in sorted(docs, key=int)) + "\n")
    placed = ["msmarco-passage (partial collection)"]
    for year, qrels, topics in (("2019", "qrels.dl19-passage.txt", "topics.dl19-passage.judged.tsv"),
                                ("2020", "qrels.dl20-passage.txt", "topics.dl20.tsv")):  # fmt: skip
        folder, out = src / f"trec-dl-{year}", base / f"trec-dl-{year}"
        bm25 = src / "runs-rankllm" / f"BM25.trec_results_dl{year[2:]}.txt"
        if not all(p.exists() for p in (folder / qrels, folder / topics, bm25)):
            continue
        _write(out / "qrels", (folder / qrels).read_text(encoding="utf-8"))
        text = (folder / topics).read_text(encoding="utf-8")
        if year == "2019":  # a Cache target (plain TSV)
            _write(out / "queries.tsv", text)
        else:  # 2020 reads the download's cache_path directly, through GzipExtract
            _write(out / "queries.tsv.gz", gzip.compress(text.encode("utf-8"), mtime=0))
        _write(out / "ms.run", bm25.read_text(encoding="utf-8"))  # scoreddocs: Pyserini BM25 top-100
        placed.append(f"msmarco-passage/trec-dl-{year}")
    dev = src / "dev-small"
    dev_files = (dev / "topics.msmarco-passage.dev-subset.tsv", dev / "qrels.msmarco-passage.dev-subset.txt")
    if all(p.exists() for p in dev_files):
        _write(base / "dev" / "small" / "queries.tsv", dev_files[0].read_text(encoding="utf-8"))
        _write(base / "dev" / "small" / "qrels", dev_files[1].read_text(encoding="utf-8"))
        placed.append("msmarco-passage/dev/small")
    return placed


def _beir_extra(home: Path, source: Path) -> list[str]:
    """BEIR test topics/qrels for the datasets registered in harness.data.irds_extra."""
    placed = []
    for name in EXTRA:
        for kind, suffix in (("topics", "tsv.gz"), ("qrels", "txt")):
            src = source.joinpath(*ANSERINI_DIR) / f"{kind}.beir-v1.0.0-{name}.test.{suffix}"
            if src.exists():
                dst = home / "beir" / name / src.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                placed.append(str(dst.relative_to(home)))
    return placed


def _robust04_topics(home: Path, source: Path) -> list[str]:
    topics = source / "robust04" / "topics.robust04.txt"
    if not topics.exists():
        return []
    dst = home / "disks45" / "04.testset.gz"  # ir_datasets reads TREC Robust04 topics from the gzipped NIST file
    _write(dst, gzip.compress(topics.read_bytes(), mtime=0))
    return [str(dst.relative_to(home))]
