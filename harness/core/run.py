"""The Run value: query id → {doc id: score}, with TREC run-file I/O and validation.

Ordering follows trec_eval everywhere (score descending, ties broken by doc id descending), so a ranking written,
truncated or reranked here is the ranking trec_eval would evaluate.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import HarnessError


def trec_order(docs: Mapping[str, float]) -> list[tuple[str, float]]:
    """(doc id, score) pairs in trec_eval's order: score descending, then doc id descending."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


@dataclass
class Run:
    """A ranked result list per query. Scores are floats; ranks are derived, never stored."""

    scores: dict[str, dict[str, float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def query_ids(self) -> set[str]:
        return set(self.scores)

    def ranked(self, query_id: str) -> list[tuple[str, float]]:
        return trec_order(self.scores.get(query_id, {}))

    def depth(self) -> int:
        """The longest ranking in the run (the cut-off it was produced at, for full runs)."""
        return max((len(d) for d in self.scores.values()), default=0)

    def top(self, k: int) -> Run:
        """The first k documents of every ranking (trec_eval order)."""
        return Run({q: dict(trec_order(d)[:k]) for q, d in self.scores.items()})

    def n_pairs(self) -> int:
        return sum(len(d) for d in self.scores.values())

    def validate(self, known_query_ids: Iterable[str] | None = None, *, source: str = "run") -> None:
        """Reject NaN/inf scores and query ids that the dataset does not have."""
        for qid, docs in self.scores.items():
            for did, score in docs.items():
                if not math.isfinite(score):
                    raise HarnessError(f"score {score} for query {qid!r} doc {did!r} is not finite", file=source)
        if known_query_ids is not None:
            unknown = self.query_ids - set(known_query_ids)
            if unknown:
                sample = ", ".join(sorted(unknown)[:5])
                raise HarnessError(f"{len(unknown)} query id(s) not in the dataset: {sample}", file=source)

    # ---------------------------------------------------------------- TREC format I/O
    def write_trec(self, path: str | Path, tag: str = "irh") -> None:
        """Write a gzip TREC run, byte-stable: no name or mtime in the gzip header, queries sorted. The tag column is
        made safe (a system name may hold spaces: a tag with whitespace could not be read back)."""
        tag = safe_tag(tag)
        buf = io.StringIO()
        for qid in sorted(self.scores):
            for rank, (did, score) in enumerate(self.ranked(qid), start=1):
                buf.write(f"{qid} Q0 {did} {rank} {score!r} {tag}\n")
        with open(path, "wb") as f, gzip.GzipFile(filename="", fileobj=f, mode="wb", mtime=0) as gz:
            gz.write(buf.getvalue().encode("utf-8"))

    @classmethod
    def read_trec(cls, path: str | Path, shown: str | None = None) -> Run:
        """Read a TREC run (plain or .gz): ``qid Q0 docid rank score tag``; fields after the sixth are ignored, as
        trec_eval ignores them. Errors name the file (as ``shown``, e.g.
        the path as written in a suite, else the path) and line. A UTF-8 byte order mark at the start is ignored."""
        path = Path(path)
        shown = shown or str(path)
        if not path.exists():
            raise HarnessError("run file not found", file=shown)
        if not path.is_file():
            raise HarnessError("run file is not a regular file (a directory, device or pipe)", file=shown)
        try:
            return cls(_parse_trec(path, shown))
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise HarnessError(f"damaged gzip file ({e or type(e).__name__})", file=shown) from None
        except UnicodeDecodeError as e:
            raise HarnessError(f"not UTF-8 text: {e.reason} at byte {e.start}", file=shown) from None


def safe_tag(tag: str) -> str:
    """A TREC run tag that is one field: letters, digits and ._- only (others become '_')."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", tag) or "irh"


def _parse_trec(path: Path, shown: str) -> dict[str, dict[str, float]]:
    opener = gzip.open if path.suffix == ".gz" else open
    scores: dict[str, dict[str, float]] = {}
    with opener(path, "rt", encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 6:  # as trec_eval: fields after the sixth are ignored
                raise HarnessError(
                    f"expected 6 fields 'qid Q0 docid rank score tag', got {len(parts)}", file=shown, line=lineno
                )
            qid, _, did, _, raw_score = parts[:5]
            try:
                score = float(raw_score)
            except ValueError:
                raise HarnessError(f"score {raw_score!r} is not a number", file=shown, line=lineno) from None
            if not math.isfinite(score):
                raise HarnessError(f"score {raw_score!r} is not finite", file=shown, line=lineno)
            docs = scores.setdefault(qid, {})
            if did in docs:
                raise HarnessError(f"duplicate doc id {did!r} for query {qid!r}", file=shown, line=lineno)
            docs[did] = score
    return scores
