"""The four BEIR datasets ir_datasets does not define (BioASQ, Signal-1M, TREC-NEWS, Robust04), registered under
``beir/<name>`` so suites can name all 18 BEIR datasets the same way.

Queries and qrels are BEIR's test split as Anserini distributes it; the corpora are licensed, so each one's docs
come with instructions (ir_datasets shows them; ``irh suites check`` prints them) instead of a download. Robust04's
corpus is TREC disks 4 & 5 without the Congressional Record, i.e. ir_datasets' own ``disks45/nocr`` docs.
"""

from __future__ import annotations

from functools import cache

from harness.core.downloads import guard

ANSERINI = "https://raw.githubusercontent.com/castorini/anserini-tools/5b819c1a45c8a0a3ec9426f476694f44a29dfaf3"

# name → (docs instructions, expected counts of docs/queries/qrels from the BEIR paper / Anserini files)
EXTRA = {
    "bioasq": (
        "BEIR's BioASQ corpus (14.9M PubMed abstracts) needs a BioASQ account (http://participants-area.bioasq.org); "
        "build it with BEIR's script and place corpus.jsonl at {path}",
        {"docs": 14914603, "queries": 500},
    ),
    "signal1m": (
        "Signal-1M (news) is licensed by Signal AI (https://research.signal-ai.com/datasets/signal1m.html); "
        "build BEIR's corpus.jsonl with BEIR's script and place it at {path}",
        {"docs": 2866316, "queries": 97},
    ),
    "trec-news": (
        "TREC-NEWS uses the Washington Post v2 collection, licensed through NIST (https://trec.nist.gov/data/wapost/); "
        "build BEIR's corpus.jsonl with BEIR's script and place it at {path}",
        {"docs": 594977, "queries": 57},
    ),
    "robust04": (None, {"docs": 528155, "queries": 249}),
}


@cache
def register() -> None:
    """Add the datasets to ir_datasets' registry (once per process), and turn ir_datasets' downloads off unless a
    command allows them (harness.core.downloads)."""
    import ir_datasets
    from ir_datasets.datasets.base import Dataset
    from ir_datasets.datasets.beir import BeirDocs, BeirTitleDoc
    from ir_datasets.formats import TrecQrels
    from ir_datasets.util.download import Download, LocalDownload, RequestsDownload

    guard()
    home = ir_datasets.util.home_path() / "beir"
    for name, (instructions, _) in EXTRA.items():
        if f"beir/{name}" in ir_datasets.registry._registered:
            continue
        base = home / name
        topics = Download(
            [RequestsDownload(f"{ANSERINI}/topics/topics.beir-v1.0.0-{name}.test.tsv.gz")],
            cache_path=str(base / f"topics.beir-v1.0.0-{name}.test.tsv.gz"),
        )
        qrels = Download(
            [RequestsDownload(f"{ANSERINI}/qrels/qrels.beir-v1.0.0-{name}.test.txt")],
            cache_path=str(base / f"qrels.beir-v1.0.0-{name}.test.txt"),
        )
        if instructions is None:
            docs = ir_datasets.load("disks45/nocr").docs_handler()
        else:
            corpus = base / "corpus.jsonl"
            docs = BeirDocs(
                name,
                Download([LocalDownload(corpus, instructions.format(path=corpus))], cache_path=str(corpus)),
                BeirTitleDoc,
            )
        queries = _AnseriniTopics(topics, name)
        dataset = Dataset(docs, queries, TrecQrels(qrels, {}))
        ir_datasets.registry.register(f"beir/{name}", dataset)
        ir_datasets.registry.register(f"beir/{name}/test", dataset)


def _AnseriniTopics(download, name: str):
    """Anserini's ``qid<TAB>text`` topics, gzipped. One Robust04 query has a tab inside its text: it is kept, as
    a space, rather than refused as ir_datasets' strict TSV reader would."""
    import gzip

    from ir_datasets.formats import BaseQueries, GenericQuery

    class AnseriniTopics(BaseQueries):
        def queries_iter(self):
            with download.stream() as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
                for line in lines:
                    if line.strip():
                        qid, _, text = line.rstrip("\n").partition("\t")
                        yield GenericQuery(qid, " ".join(text.split("\t")))

        def queries_cls(self):
            return GenericQuery

        def queries_namespace(self) -> str:
            return f"beir/{name}"

        def queries_lang(self) -> str:
            return "en"

    return AnseriniTopics()


def expected_counts(irds_id: str) -> dict[str, int]:
    name = irds_id.removeprefix("beir/").removesuffix("/test")
    return EXTRA[name][1] if irds_id.startswith("beir/") and name in EXTRA else {}
