"""Regression baselines: a suite's expected metrics, saved beside the code, and the comparison with a fresh run.

``results/baselines/<suite name>.json`` holds expected values (dataset × system × metric) with the suite's tolerances
and where they came from (suite digest, date, git commit, library versions): small, sorted, deterministic, meant to
be committed. A comparison row is OK within tolerance, IMPROVED / REGRESSED beyond it (every measure here is
higher-is-better), MISSING when an expected value was not produced, INVALID when a value is not a finite number, NEW
when a value has no expectation yet because the suite changed, UNCOVERED when it has none although the suite did not
change (the baseline should hold it). Systems the baseline does not cover are listed under ``not_covered`` with the
reason (e.g. hours of CPU), so a check says what it leaves out instead of passing over it in silence.

A check never passes vacuously: a baseline must be of the suite it checks (same name; same digest unless the suite
change is allowed), hold finite numbers, and the check must compare at least one expected value.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.provenance import git_state, library_versions
from harness.store import write_text_atomic
from harness.suite.config import Suite
from harness.suite.results import Results

BASELINE_FORMAT = 1
VERDICTS = ("OK", "IMPROVED", "REGRESSED", "MISSING", "INVALID", "UNCOVERED", "NEW")
FAILING = ("REGRESSED", "MISSING", "INVALID", "UNCOVERED")
EPSILON = 1e-12  # float noise: a delta equal to the tolerance is within it


def baseline_path(directory: str | Path, suite: Suite) -> Path:
    return Path(directory) / f"{suite.name}.json"


def make_baseline(suite: Suite, results: Results, not_covered: Mapping[str, Mapping[str, str]] | None = None) -> dict:
    """The baseline document for a suite's results (means over judged queries); ``not_covered``: dataset → system →
    why the baseline holds no values for it."""
    expected = results.nested()
    metrics = sorted({m for ds in suite.datasets for m in suite.metrics_for(ds.name)})
    git = git_state(suite.path.resolve().parent)
    return {
        "format": BASELINE_FORMAT,
        "suite": suite.name,
        "suite_file": suite.path.name,
        "suite_digest": suite.digest,
        "created": datetime.now(UTC).date().isoformat(),
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "versions": library_versions(),
        "tolerance": suite.regression.tolerance,
        "tolerances": {m: suite.regression.tolerance_for(m) for m in metrics},
        "datasets": {
            name: {"id": facts["irds_id"], "judged_queries": facts["judged_queries"]}
            for name, facts in results.datasets.items()
        },
        "expected": expected,
        "not_covered": {ds: dict(systems) for ds, systems in (not_covered or {}).items()},
    }


def save_baseline(path: str | Path, baseline: dict) -> None:
    validate(baseline, str(path))
    write_text_atomic(Path(path), json.dumps(baseline, indent=1, sort_keys=True, allow_nan=False) + "\n")


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
    validate(baseline, str(path))
    if suite is not None and baseline["suite"] != suite.name:
        raise HarnessError(
            f"a baseline of suite {baseline['suite']!r}, not of {suite.name!r}", file=str(path), field="suite"
        )
    return baseline


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _mapping(value: object, file: str, field: str) -> dict:
    if not isinstance(value, dict):
        raise HarnessError(f"expected a table, found {type(value).__name__}", file=file, field=field)
    return value


def validate(baseline: dict, file: str) -> None:
    """A baseline that can check something: a suite name, at least one expected value, every value and tolerance a
    finite number (tolerances ≥ 0), and no system both expected and listed as not covered."""
    if not isinstance(baseline.get("suite"), str):
        raise HarnessError("no suite name", file=file, field="suite")
    expected = _mapping(baseline.get("expected"), file, "expected")
    not_covered = _mapping(baseline.get("not_covered", {}), file, "not_covered")
    n = 0
    for ds, systems in expected.items():
        for system, metrics in _mapping(systems, file, f"expected.{ds}").items():
            for metric, value in _mapping(metrics, file, f"expected.{ds}.{system}").items():
                if not _finite(value):
                    raise HarnessError(
                        f"not a finite number: {value!r}", file=file, field=f"expected.{ds}.{system}.{metric}"
                    )
                n += 1
    if n == 0:
        raise HarnessError("the baseline expects no value: nothing would be checked", file=file, field="expected")
    for ds, systems in not_covered.items():
        for system, reason in _mapping(systems, file, f"not_covered.{ds}").items():
            if not isinstance(reason, str) or not reason.strip():
                raise HarnessError("needs the reason (text)", file=file, field=f"not_covered.{ds}.{system}")
            if system in expected.get(ds, {}):
                raise HarnessError("both expected and not covered", file=file, field=f"not_covered.{ds}.{system}")
    tolerances = {"tolerance": baseline.get("tolerance", 0.0)}
    tolerances |= {
        f"tolerances.{m}": v for m, v in _mapping(baseline.get("tolerances", {}), file, "tolerances").items()
    }
    for field, value in tolerances.items():
        if not _finite(value) or value < 0:
            raise HarnessError(f"not a number >= 0: {value!r}", file=file, field=field)


def check_suite_digest(baseline: dict, suite: Suite, file: str, allow_change: bool) -> bool:
    """True when the suite changed since the baseline was saved (allowed); an error when not allowed."""
    if baseline.get("suite_digest") == suite.digest:
        return False
    if not allow_change:
        raise HarnessError(
            f"saved from another version of {suite.path} (suite digest {str(baseline.get('suite_digest'))[:12]}, now "
            f"{suite.digest[:12]}): save it again with `irh baseline save {suite.path}`, or pass --allow-suite-change",
            file=file,
            field="suite_digest",
        )
    return True


def not_covered(baseline: dict) -> dict[str, str]:
    """DATASET/SYSTEM → why the baseline holds no values for it."""
    return {
        f"{ds}/{system}": why
        for ds, systems in baseline.get("not_covered", {}).items()
        for system, why in systems.items()
    }


def select(suite: Suite, patterns: list[str] | None, option: str = "--only") -> list[str]:
    """The suite's DATASET/SYSTEM pairs matching the glob patterns (all without patterns); a pattern that matches
    nothing is an error, not an empty check."""
    pairs = [f"{d.name}/{s.name}" for d in suite.datasets for s in suite.systems]
    for p in patterns or []:
        if not any(fnmatch.fnmatchcase(pair, p) for pair in pairs):
            raise HarnessError(f"{p!r} matches no DATASET/SYSTEM of the suite", file=str(suite.path), field=option)
    return [pair for pair in pairs if not patterns or any(fnmatch.fnmatchcase(pair, p) for p in patterns)]


def as_patterns(pairs: list[str]) -> list[str]:
    """Exact DATASET/SYSTEM pairs as glob patterns (names may hold * ? [)."""
    return [glob.escape(pair) for pair in pairs]


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


def verdict(expected: float | None, got: float | None, tolerance: float, suite_changed: bool = True) -> str:
    if got is None:
        return "MISSING"
    if not math.isfinite(got) or (expected is not None and not math.isfinite(expected)):
        return "INVALID"
    if expected is None:
        return "NEW" if suite_changed else "UNCOVERED"
    delta = got - expected
    if delta < -tolerance - EPSILON:
        return "REGRESSED"
    if delta > tolerance + EPSILON:
        return "IMPROVED"
    return "OK"


def compare(
    baseline: dict, results: Results, suite: Suite, only: list[str] | None = None, suite_changed: bool = True
) -> list[Row]:
    """One row per expected or produced value, in suite order. ``only`` (DATASET/SYSTEM globs) limits the check;
    ``suite_changed`` False: a produced value without expectation is UNCOVERED (failing), not NEW."""
    expected: dict = baseline.get("expected", {})
    got = results.nested()
    tolerances: dict[str, float] = baseline.get("tolerances", {})
    left_out = not_covered(baseline)

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
            if f"{ds}/{system}" in left_out:  # e.g. run only as the upstream stage of a covered system
                continue
            exp_sys, got_sys = exp_ds.get(system, {}), got_ds.get(system, {})
            suite_metrics = list(suite.metrics_for(ds)) if ds in {d.name for d in suite.datasets} else []
            for metric in order(set(exp_sys) | set(got_sys), suite_metrics):
                e, g = exp_sys.get(metric), got_sys.get(metric)
                tol = tolerance(metric) if e is not None else suite.regression.tolerance_for(metric)
                rows.append(Row(ds, system, metric, e, g, tol, verdict(e, g, tol, suite_changed)))
    return rows


def summary(rows: list[Row]) -> dict[str, int]:
    return {v: sum(r.verdict == v for r in rows) for v in VERDICTS}


def checked(rows: list[Row]) -> int:
    """How many expected values the rows compare."""
    return sum(r.expected is not None for r in rows)


def passed(rows: list[Row]) -> bool:
    """At least one expected value checked, and no failing verdict."""
    return checked(rows) > 0 and not any(r.verdict in FAILING for r in rows)


def notes(baseline: dict, suite: Suite) -> list[str]:
    """What the check leaves out, and what changed since the baseline was saved, to explain differences."""
    out = []
    by_reason: dict[str, list[str]] = {}
    for pair, why in not_covered(baseline).items():
        by_reason.setdefault(why, []).append(pair)
    out += [f"not covered by the baseline (not checked): {', '.join(pairs)}: {why}" for why, pairs in by_reason.items()]
    if baseline.get("suite_digest") != suite.digest:
        out.append("the suite file changed since the baseline was saved (--allow-suite-change)")
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
