"""Readers for a collection given as plain files: documents, topics and qrels as collections ship them.

Each reader yields (line number, record) and raises a one-line HarnessError naming the file and line of anything it
cannot read. The format is told by the content (the first non-blank line), not by the file name; gzip'd files are
told by their magic bytes:

- ``<`` → TREC SGML: documents ``<DOC><DOCNO>id</DOCNO>…</DOC>``, topics ``<top><num>…<title>…</top>``;
- ``{`` → JSON lines: ``{"_id"|"id"|"doc_id"|"query_id": …, "title": …, "text"|"contents"|"query": …}``;
- otherwise TSV ``id<TAB>text``: everything after the FIRST tab is the text, stray tabs in it included.

In TREC documents a tag is ``<`` + a letter (``<TEXT>``, ``</P>``, ``<a href="…">``); a ``<`` followed by anything
else ("10^8 < 2^27") is text and kept. Tags become spaces, and runs of whitespace one space.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

from harness.core.errors import HarnessError

ID_KEYS = ("_id", "id", "doc_id", "docid", "query_id", "qid")
TEXT_KEYS = ("text", "contents", "body", "query")
TAG = re.compile(r"</?[A-Za-z][\w.:-]*(?:\s+[\w.:-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'<>=]+))?)*\s*/?>")
DOCNO = re.compile(r"<DOCNO>\s*(.*?)\s*</DOCNO>", re.I | re.S)
TOPIC_FIELD = re.compile(r"<(num|title|desc|narr)>", re.I)


def lines(path: Path, shown: str) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline) of a plain or gzip'd UTF-8 file; a UTF-8 BOM is ignored."""
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rt", encoding="utf-8-sig", newline=None) as f:
            for number, line in enumerate(f, start=1):
                yield number, line.rstrip("\n")
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise HarnessError(f"damaged gzip file ({e or type(e).__name__})", file=shown) from None
    except UnicodeDecodeError as e:
        raise HarnessError(f"not UTF-8 text: {e.reason} at byte {e.start}", file=shown) from None
    except OSError as e:
        raise HarnessError(f"cannot be read: {e.strerror}", file=shown) from None


def sniff(path: Path, shown: str) -> str:
    """'trec', 'jsonl' or 'tsv', from the first non-blank line."""
    for _, line in lines(path, shown):
        if line.strip():
            first = line.lstrip()[0]
            return "trec" if first == "<" else "jsonl" if first == "{" else "tsv"
    raise HarnessError("file is empty", file=shown)


def read_texts(path: Path, shown: str, kind: str) -> Iterator[tuple[int, str, str]]:
    """(line, id, text) of the documents (kind 'docs') or topics (kind 'queries') in a file, with unique ids."""
    fmt = sniff(path, shown)
    if fmt == "trec":
        records = _trec_docs(path, shown) if kind == "docs" else _trec_topics(path, shown)
    else:
        records = _jsonl(path, shown) if fmt == "jsonl" else _tsv(path, shown)
    seen: dict[str, int] = {}
    what = "doc id" if kind == "docs" else "query id"
    for number, rid, text in records:
        if rid in seen:
            raise HarnessError(f"duplicate {what} {rid!r} (first at line {seen[rid]})", file=shown, line=number)
        seen[rid] = number
        yield number, rid, text


def _tsv(path: Path, shown: str) -> Iterator[tuple[int, str, str]]:
    for number, line in lines(path, shown):
        if not line.strip():
            continue
        rid, tab, text = line.partition("\t")
        if not tab:
            raise HarnessError("expected 'id<TAB>text' (no tab in the line)", file=shown, line=number)
        if not rid.strip():
            raise HarnessError("empty id before the first tab", file=shown, line=number)
        yield number, rid.strip(), text


def _jsonl(path: Path, shown: str) -> Iterator[tuple[int, str, str]]:
    for number, line in lines(path, shown):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise HarnessError(f"not a JSON object: {e.msg} (column {e.colno})", file=shown, line=number) from None
        if not isinstance(record, dict):
            raise HarnessError("not a JSON object", file=shown, line=number)
        rid = next((record[k] for k in ID_KEYS if k in record), None)
        if rid is None or str(rid).strip() == "":
            raise HarnessError(f"no id (one of {', '.join(ID_KEYS)})", file=shown, line=number)
        text = next((record[k] for k in TEXT_KEYS if k in record), None)
        if not isinstance(text, str):
            raise HarnessError(f"no text (one of {', '.join(TEXT_KEYS)}, a string)", file=shown, line=number)
        title = record.get("title")
        yield number, str(rid), f"{title} {text}" if isinstance(title, str) and title else text


def strip_tags(markup: str) -> str:
    return " ".join(TAG.sub(" ", markup).split())


def _trec_docs(path: Path, shown: str) -> Iterator[tuple[int, str, str]]:
    """<DOC> … </DOC> blocks, one per document; the tags may share a line with the content (or each other)."""
    start, body = None, []
    for number, line in lines(path, shown):
        text = line.strip()
        if start is None:
            if not text:
                continue
            if not text.upper().startswith("<DOC>"):
                raise HarnessError("text outside <DOC>…</DOC>", file=shown, line=number)
            start, body, text = number, [], text[5:]
        elif text.upper().startswith("<DOC>"):
            raise HarnessError(f"<DOC> inside the <DOC> opened at line {start}", file=shown, line=number)
        if text.upper().endswith("</DOC>"):
            body.append(text[:-6])
            yield start, *_trec_doc("\n".join(body), shown, start)
            start = None
        else:
            body.append(text)
    if start is not None:
        raise HarnessError("<DOC> is never closed by </DOC>", file=shown, line=start)


def _trec_doc(markup: str, shown: str, line: int) -> tuple[str, str]:
    docno = DOCNO.search(markup)
    if docno is None or not docno.group(1):
        raise HarnessError("document without <DOCNO>", file=shown, line=line)
    rest = markup[: docno.start()] + markup[docno.end() :]
    return docno.group(1), strip_tags(re.sub(r"<DOCHDR>.*?</DOCHDR>", " ", rest, flags=re.I | re.S))


def _trec_topics(path: Path, shown: str) -> Iterator[tuple[int, str, str]]:
    """TREC topics: the query is the <title> (as ir_datasets' TrecQuery.default_text)."""
    start, body = None, []
    for number, line in lines(path, shown):
        low = line.strip().lower()
        if low == "<top>":
            if start is not None:
                raise HarnessError(f"<top> inside the <top> opened at line {start}", file=shown, line=number)
            start, body = number, []
        elif low == "</top>":
            if start is None:
                raise HarnessError("</top> without <top>", file=shown, line=number)
            fields = _topic_fields("\n".join(body))
            qid = fields.get("num", "")
            if not qid:
                raise HarnessError("topic without an id (<num>)", file=shown, line=start)
            if not fields.get("title"):
                raise HarnessError(f"topic {qid!r} has no <title>", file=shown, line=start)
            yield start, qid, fields["title"]
            start = None
        elif start is not None:
            body.append(line)
    if start is not None:
        raise HarnessError("<top> is never closed by </top>", file=shown, line=start)


def _topic_fields(markup: str) -> dict[str, str]:
    """<num>, <title>, <desc>, <narr> of one topic: each runs to the next of these tags (closing tags optional)."""
    marks = list(TOPIC_FIELD.finditer(markup))
    fields = {}
    for m, after in zip(marks, [*marks[1:], None], strict=True):
        text = strip_tags(markup[m.end() : after.start() if after else len(markup)])
        fields[m.group(1).lower()] = re.sub(r"^(Number|Topic|Description|Narrative):\s*", "", text, flags=re.I)
    return fields


def read_qrels(path: Path, shown: str) -> Iterator[tuple[int, str, str, int]]:
    """(line, query id, doc id, relevance) of a TREC qrels file ``qid iter docid rel``; a pair judged twice is an
    error naming both lines."""
    seen: dict[tuple[str, str], int] = {}
    for number, line in lines(path, shown):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise HarnessError(f"expected 4 fields 'qid iter docid rel', got {len(parts)}", file=shown, line=number)
        qid, _, did, raw = parts
        try:
            rel = int(raw)
        except ValueError:
            raise HarnessError(f"relevance {raw!r} is not an integer", file=shown, line=number) from None
        if (qid, did) in seen:
            message = f"query {qid!r} doc {did!r} judged twice (first at line {seen[qid, did]})"
            raise HarnessError(message, file=shown, line=number)
        seen[qid, did] = number
        yield number, qid, did, rel
