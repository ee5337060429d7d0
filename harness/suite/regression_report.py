"""The report of a regression check (``irh regress``): a terminal table, Markdown or JSON, with the notes on what the
check leaves out or what changed since the baseline was saved."""

from __future__ import annotations

import json
from pathlib import Path

from harness.suite.config import Suite
from harness.suite.regression import FAILING, Row, not_covered, notes, passed, summary


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _cells(r: Row) -> list[str]:
    return [
        r.dataset,
        r.system,
        r.metric,
        _num(r.expected, ".4f"),
        _num(r.got, ".4f"),
        _num(r.delta, "+.5f"),
        f"{r.tolerance:g}",
        r.verdict,
    ]


HEADER = ["dataset", "system", "metric", "expected", "got", "delta", "tolerance", "verdict"]


def _headline(suite: Suite, baseline: dict, source: str) -> str:
    commit = baseline.get("git_commit")
    saved = f"saved {baseline.get('created', '?')}" + (f", commit {commit[:10]}" if commit else "")
    return f"regression · {suite.name} vs {source} ({saved})"


def _verdict_line(rows: list[Row]) -> str:
    counts = summary(rows)
    return ", ".join(f"{n} {v}" for v, n in counts.items()) + (" → PASS" if passed(rows) else " → FAIL")


def format_table(suite: Suite, baseline: dict, source: str, rows: list[Row]) -> str:
    grid = [HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(HEADER))]
    numeric = {3, 4, 5, 6}

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in pairs)

    out = [_headline(suite, baseline, source), *(f"note: {n}" for n in notes(baseline, suite))]
    out += [line(HEADER), line(["-" * w for w in widths]), *(line(c) for c in grid[1:]), _verdict_line(rows)]
    return "\n".join(s.rstrip() for s in out)


def format_markdown(suite: Suite, baseline: dict, source: str, rows: list[Row]) -> str:
    out = [f"## {_headline(suite, baseline, source)}", ""]
    out += [f"> note: {n}" for n in notes(baseline, suite)]
    if out[-1] != "":
        out.append("")
    out.append("| " + " | ".join(HEADER) + " |")
    out.append("|" + "|".join(["---"] * 3 + ["---:"] * 4 + ["---"]) + "|")
    for r in rows:
        cells = _cells(r)
        if r.verdict in FAILING:
            cells[-1] = f"**{cells[-1]}**"
        out.append("| " + " | ".join(cells) + " |")
    out += ["", f"**{_verdict_line(rows)}**", ""]
    return "\n".join(out)


def format_json(suite: Suite, baseline: dict, source: str, rows: list[Row]) -> str:
    doc = {
        "suite": suite.name,
        "baseline": source,
        "baseline_created": baseline.get("created"),
        "baseline_commit": baseline.get("git_commit"),
        "notes": notes(baseline, suite),
        "not_covered": not_covered(baseline),
        "summary": summary(rows),
        "passed": passed(rows),
        "rows": [r.as_dict() for r in rows],
    }
    return json.dumps(doc, indent=1, sort_keys=True)


FORMATS = {"table": format_table, "md": format_markdown, "json": format_json}


def format_report(fmt: str, suite: Suite, baseline: dict, source: str, rows: list[Row]) -> str:
    return FORMATS[fmt](suite, baseline, source, rows)


def format_for_path(path: str | Path, default: str) -> str:
    """Report format from a file name: .md → md, .json → json, otherwise ``default``."""
    suffix = Path(path).suffix.lower()
    return {".md": "md", ".markdown": "md", ".json": "json"}.get(suffix, default)
