"""Regression baselines: a suite's expected metrics, saved beside the code, and the comparison with a fresh run.

``results/baselines/<suite name>.json`` holds expected values (dataset × system × metric) with the suite's tolerances
and where they came from (suite digest, date, git commit, library versions): small, sorted, deterministic, meant to
be committed. A comparison row is OK within tolerance, IMPROVED / REGRESSED beyond it (every measure here is
higher-is-better), MISSING when an expected value was not produced, NEW when a value has no expectation yet.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import HarnessError
from harness.provenance import library_versions
from harness.results import Results
from harness.store import write_text_atomic
from harness.suite import Suite

BASELINE_FORMAT = 1
VERDICTS = ("OK", "IMPROVED", "REGRESSED", "MISSING", "NEW")
FAILING = ("REGRESSED", "MISSING")
EPSILON = 1e-12  # float noise: a delta equal to the tolerance is within it


def baseline_path(directory: str | Path, suite: Suite) -> Path:
    return Path(directory) / f"{suite.name}.json"


def _git_commit(where: Path) -> tuple[str | None, bool | None]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None, None


def make_baseline(suite: Suite, results: Results) -> dict:
    """The baseline document for a suite's results (means over judged queries)."""
    expected = results.nested()
    metrics = sorted({m for ds in suite.datasets for m in suite.metrics_for(ds.name)})
    commit, dirty = _git_commit(suite.path.resolve().parent)
    return {
        "format": BASELINE_FORMAT,
        "suite": suite.name,
        "suite_file": suite.path.name,
        "suite_digest": suite.digest,
        "created": datetime.now(UTC).date().isoformat(),
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": library_versions(),
        "tolerance": suite.regression.tolerance,
        "tolerances": {m: suite.regression.tolerance_for(m) for m in metrics},
        "datasets": {
            name: {"id": facts["irds_id"], "judged_queries": facts["judged_queries"]}
            for name, facts in results.datasets.items()
        },
        "expected": expected,
    }


def save_baseline(path: str | Path, baseline: dict) -> None:
    write_text_atomic(Path(path), json.dumps(baseline, indent=1, sort_keys=True) + "\n")


def load_baseline(path: str | Path, suite: Suite | None = None) -> dict:
    path = Path(path)
    if not path.exists():
        hint = f": save one with `irh baseline save {suite.path}`" if suite else ""
        raise HarnessError(f"no baseline{' for suite ' + repr(suite.name) if suite else ''}{hint}", file=str(path))
    try:
        baseline = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise HarnessError(f"unreadable baseline: {e}", file=str(path)) from None
    if not isinstance(baseline, dict) or baseline.get("format") != BASELINE_FORMAT:
        raise HarnessError(f"not a baseline file of format {BASELINE_FORMAT}", file=str(path))
    return baseline


@dataclass(frozen=True)
class Row:
    dataset: str
    system: str
    metric: str
    expected: float | None
    got: float | None
    tolerance: float
    verdict: str

    @property
    def delta(self) -> float | None:
        return None if self.expected is None or self.got is None else self.got - self.expected

    def as_dict(self) -> dict:
        return {**asdict(self), "delta": self.delta}


def verdict(expected: float | None, got: float | None, tolerance: float) -> str:
    if got is None:
        return "MISSING"
    if expected is None:
        return "NEW"
    delta = got - expected
    if delta < -tolerance - EPSILON:
        return "REGRESSED"
    if delta > tolerance + EPSILON:
        return "IMPROVED"
    return "OK"


def compare(baseline: dict, results: Results, suite: Suite, only: list[str] | None = None) -> list[Row]:
    """One row per expected or produced value, in suite order. ``only`` (DATASET/SYSTEM globs) limits the check."""
    expected: dict = baseline.get("expected", {})
    got = results.nested()
    tolerances: dict[str, float] = baseline.get("tolerances", {})

    def tolerance(metric: str) -> float:
        return float(tolerances.get(metric, baseline.get("tolerance", suite.regression.tolerance_for(metric))))

    def order(names: set[str], suite_order: list[str]) -> list[str]:
        return [n for n in suite_order if n in names] + sorted(names - set(suite_order))

    rows = []
    for ds in order(set(expected) | set(got), [d.name for d in suite.datasets]):
        exp_ds, got_ds = expected.get(ds, {}), got.get(ds, {})
        for system in order(set(exp_ds) | set(got_ds), [s.name for s in suite.systems]):
            if only and not any(fnmatch.fnmatchcase(f"{ds}/{system}", p) for p in only):
                continue
            exp_sys, got_sys = exp_ds.get(system, {}), got_ds.get(system, {})
            suite_metrics = list(suite.metrics_for(ds)) if ds in {d.name for d in suite.datasets} else []
            for metric in order(set(exp_sys) | set(got_sys), suite_metrics):
                e, g = exp_sys.get(metric), got_sys.get(metric)
                tol = tolerance(metric) if e is not None else suite.regression.tolerance_for(metric)
                rows.append(Row(ds, system, metric, e, g, tol, verdict(e, g, tol)))
    return rows


def summary(rows: list[Row]) -> dict[str, int]:
    return {v: sum(r.verdict == v for r in rows) for v in VERDICTS}


def passed(rows: list[Row]) -> bool:
    return not any(r.verdict in FAILING for r in rows)


def notes(baseline: dict, suite: Suite) -> list[str]:
    """What changed since the baseline was saved, to explain differences."""
    out = []
    if baseline.get("suite_digest") != suite.digest:
        out.append("the suite file changed since the baseline was saved")
    old, new = baseline.get("versions", {}), library_versions()
    libs = sorted(set(old) | set(new))
    changed = [f"{lib} {old.get(lib, '-')} → {new.get(lib, '-')}" for lib in libs if old.get(lib) != new.get(lib)]
    if changed:
        out.append("library versions differ: " + ", ".join(changed))
    return out


# ---------------------------------------------------------------- reports
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
