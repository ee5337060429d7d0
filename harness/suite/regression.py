"""Regression baselines: a suite's expected metrics, saved beside the code, and the comparison with a fresh run.

``results/baselines/<suite name>.json`` holds, like Anserini's regression YAMLs, the experiment (suite file and digest),
the corpus checks (per dataset: judged queries, judgments, and documents where the corpus is local) and the expected
numbers, each rounded to 4 decimals with its tolerance beside it, plus where they came from (date, git commit, library
versions): small, sorted, deterministic, meant to be committed and read in review. A check first compares the corpus
counts (a changed corpus is an error, not a regression), then the numbers: a row is OK within tolerance, IMPROVED /
REGRESSED beyond it (every measure here is higher-is-better), MISSING when an expected value was not produced,
INVALID when a value is not a finite number, NEW when a value has no expectation yet because the suite changed,
UNCOVERED when it has none although the suite did not change (the baseline should hold it). Systems the baseline does
not cover are listed under ``not_covered`` with the reason (e.g. hours of CPU), so a check says what it leaves out
instead of passing over it in silence.

A check never passes vacuously: a baseline must be of the suite it checks (same name; same digest unless the suite
change is allowed), hold finite numbers, and the check must compare at least one expected value.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.git import git_state
from harness.core.measures import DIAGNOSTICS
from harness.core.provenance import library_versions
from harness.store import write_text_atomic
from harness.suite.config import Suite
from harness.suite.results import Results

BASELINE_FORMAT = 2
DECIMALS = 4  # expected values are stored rounded, as trec_eval prints them
ROUNDING = 0.5 * 10**-DECIMALS  # a fresh value within the tolerance of the unrounded number may be this far off
VERDICTS = ("OK", "IMPROVED", "REGRESSED", "MISSING", "INVALID", "UNCOVERED", "NEW")
FAILING = ("REGRESSED", "MISSING", "INVALID", "UNCOVERED")
EPSILON = 1e-12  # float noise: a delta equal to the tolerance is within it


def baseline_path(directory: str | Path, suite: Suite) -> Path:
    return Path(directory) / f"{suite.name}.json"


def make_baseline(suite: Suite, results: Results, not_covered: Mapping[str, Mapping[str, str]] | None = None) -> dict:
    """The baseline document for a suite's results (means over judged queries); ``not_covered``: dataset → system →
    why the baseline holds no values for it."""
    expected = {
        ds: {
            system: {
                m: {"value": round(v, DECIMALS), "tolerance": suite.regression.tolerance_for(m)} for m, v in ms.items()
            }
            for system, ms in systems.items()
        }
        for ds, systems in checked_values(results).items()
    }
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
        "datasets": {name: corpus_counts(suite, results, name) for name in results.datasets},
        "expected": expected,
        "not_covered": {ds: dict(systems) for ds, systems in (not_covered or {}).items()},
    }


def checked_values(results: Results) -> dict[str, dict[str, dict[str, float]]]:
    """dataset → system → measure → mean, without the diagnostics (Judged@10): a baseline holds quality measures only,
    so one saved before a diagnostic existed does not fail when the diagnostic appears."""
    return {
        ds: {system: {m: v for m, v in ms.items() if m not in DIAGNOSTICS} for system, ms in systems.items()}
        for ds, systems in results.nested().items()
    }


def corpus_counts(suite: Suite, results: Results, name: str) -> dict:
    """What the numbers were measured on: the dataset id, its judged queries and judgments, and its documents where
    the corpus is local (one that is not is not counted)."""
    facts = results.datasets[name]
    counts = {"id": facts["irds_id"], "queries": facts["judged_queries"], "judgments": facts.get("judgments")}
    ds = next((d for d in suite.datasets if d.name == name and d.irds_id == facts["irds_id"]), None)
    if ds is not None and ds.availability("docs").local:
        counts["documents"] = ds.count("docs")
    return {k: v for k, v in counts.items() if v is not None}


def check_corpus(baseline: dict, suite: Suite, results: Results, file: str | None = None) -> None:
    """A HarnessError when a dataset's counts differ from the baseline's (the numbers would not be comparable)."""
    for name, saved in baseline.get("datasets", {}).items():
        now = corpus_counts(suite, results, name) if name in results.datasets else {}
        changed = [f"{k} {saved[k]} → {now[k]}" for k in now if k in saved and saved[k] != now[k]]
        if changed:
            why = f"dataset {name!r} is not the one the baseline was measured on: {', '.join(changed)}"
            raise HarnessError(why, file=file, field=f"datasets.{name}")


def save_baseline(path: str | Path, baseline: dict) -> None:
    validate(baseline, str(path))
    write_text_atomic(Path(path), dumps(baseline) + "\n")


def dumps(baseline: dict) -> str:
    """Sorted, indented JSON, each expected number on one line: ``"P@10": {"tolerance": 0.001, "value": 0.2227}``."""
    text = json.dumps(baseline, indent=1, sort_keys=True, allow_nan=False)
    return re.sub(
        r'\{\n\s*"tolerance": ([^,\n]+),\n\s*"value": ([^\n]+)\n\s*\}',
        lambda m: f'{{"tolerance": {m[1]}, "value": {float(m[2]):.{DECIMALS}f}}}',
        text,
    )


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
            for metric, entry in _mapping(metrics, file, f"expected.{ds}.{system}").items():
                where = f"expected.{ds}.{system}.{metric}"
                entry = _mapping(entry, file, where)
                if not _finite(entry.get("value")):
                    raise HarnessError(
                        f"not a finite number: {entry.get('value')!r}", file=file, field=f"{where}.value"
                    )
                if not _finite(entry.get("tolerance")) or entry["tolerance"] < 0:
                    raise HarnessError(
                        f"not a number >= 0: {entry.get('tolerance')!r}", file=file, field=f"{where}.tolerance"
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


def verdict(
    expected: float | None, got: float | None, tolerance: float, suite_changed: bool = True, rounding: float = 0.0
) -> str:
    """OK within ``tolerance`` (+ ``rounding``, how far a stored rounded value may be from the number it stands for)."""
    if got is None:
        return "MISSING"
    if not math.isfinite(got) or (expected is not None and not math.isfinite(expected)):
        return "INVALID"
    if expected is None:
        return "NEW" if suite_changed else "UNCOVERED"
    delta = got - expected
    if delta < -tolerance - rounding - EPSILON:
        return "REGRESSED"
    if delta > tolerance + rounding + EPSILON:
        return "IMPROVED"
    return "OK"


def compare(
    baseline: dict,
    results: Results,
    suite: Suite,
    only: list[str] | None = None,
    suite_changed: bool = True,
    file: str | None = None,
) -> list[Row]:
    """One row per expected or produced value, in suite order, after the corpus check (``file``: the baseline's, for
    its error). ``only`` (DATASET/SYSTEM globs) limits the check; ``suite_changed`` False: a produced value without
    expectation is UNCOVERED (failing), not NEW."""
    check_corpus(baseline, suite, results, file)
    expected: dict = baseline.get("expected", {})
    got = checked_values(results)
    left_out = not_covered(baseline)

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
                entry, g = exp_sys.get(metric), got_sys.get(metric)
                e = None if entry is None else float(entry["value"])
                tol = suite.regression.tolerance_for(metric) if entry is None else float(entry["tolerance"])
                rows.append(Row(ds, system, metric, e, g, tol, verdict(e, g, tol, suite_changed, ROUNDING)))
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
