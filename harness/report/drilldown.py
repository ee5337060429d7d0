"""The per-query drill-down of a dataset: every judged query's score per system and metric, stored ONCE per dataset
(query texts cut short, values rounded to the shown digits) and shown as one sortable table per (baseline, metric).

The HTML report embeds ``DrilldownData.payload()`` as JSON and its script builds the tables from it: the same numbers
written as table markup per metric and baseline took ~2 MB per 1,400 queries (ArguAna's long query texts repeated
in every table).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.core.slugs import slug
from harness.report.tables import DIGITS, finite

QUERY_CHARS = 160  # query text shown in the drill-down (ArguAna's queries are whole arguments)


@dataclass
class DrilldownData:
    """One dataset's per-query values: ``values[metric][system]`` aligned with ``queries`` (None: no value)."""

    key: str  # the id of the embedded JSON
    queries: list[tuple[str, str]]  # (query id, text cut to QUERY_CHARS)
    values: dict[str, dict[str, list[float | None]]]
    cut: int  # how many query texts were cut
    cut_at: int = QUERY_CHARS

    def payload(self) -> dict[str, Any]:
        return {"queries": [list(q) for q in self.queries], "values": self.values}


@dataclass
class Drilldown:
    """One table of the drill-down: a metric, against a baseline; its rows come from ``DrilldownData``."""

    key: str  # table id (a link may open the report sorted by one of its columns: #sort=KEY,COLUMN,asc)
    source: str  # DrilldownData.key
    metric: str
    baseline: str
    baseline_label: str
    systems: list[tuple[str, str]]  # (name, label), the baseline excluded
    n: int


def drilldown_data(
    dataset: str, per_query: pd.DataFrame, systems: list[str], metrics: list[str], texts: Mapping[str, str]
) -> DrilldownData:
    """``per_query``: one dataset's stored per-query evaluations (columns system, query_id, metric, value)."""
    wide = per_query.pivot_table(index="query_id", columns=["metric", "system"], values="value", aggfunc="first")
    ids = sorted((str(q) for q in wide.index), key=_natural)
    wide.index = wide.index.astype(str)
    wide = wide.reindex(ids)
    values: dict[str, dict[str, list[float | None]]] = {}
    for m in metrics:
        values[m] = {}
        for s in systems:
            column = wide[(m, s)] if (m, s) in wide.columns else pd.Series(None, index=wide.index, dtype=float)
            values[m][s] = [None if (v := finite(x)) is None else round(v, DIGITS) for x in column]
    queries, cut = [], 0
    for qid in ids:
        text = " ".join(texts.get(qid, "").split())
        if len(text) > QUERY_CHARS:
            text, cut = text[: QUERY_CHARS - 1].rstrip() + "…", cut + 1
        queries.append((qid, text))
    return DrilldownData(f"data-{_slug(dataset)}", queries, values, cut)


def drilldowns(
    dataset: str, data: DrilldownData, baselines: list[str], systems: list[str], labels: Mapping[str, str]
) -> list[Drilldown]:
    """One table per baseline and metric, the baseline's metric values first, then each other system's."""
    out = []
    for b in baselines:
        others = [(s, labels.get(s, s)) for s in systems if s != b]
        for m in data.values:
            key = f"q-{_slug(dataset)}-{_slug(b)}-{_slug(m)}"
            out.append(Drilldown(key, data.key, m, b, labels.get(b, b), others, len(data.queries)))
    return out


def _slug(text: str) -> str:
    return slug(text, "-").lower() or "x"


def _natural(text: str) -> list[Any]:
    """Sort key: "2" before "10" (query ids are often numbers stored as text)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]
