"""Run a suite against its regression baseline: save one (``irh baseline save``) or check one (``irh regress``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.store import Store
from harness.suite.config import Suite
from harness.suite.regression import (
    Row,
    as_patterns,
    baseline_path,
    check_suite_digest,
    checked,
    compare,
    load_baseline,
    make_baseline,
    not_covered,
    save_baseline,
    select,
)
from harness.suite.run import run_suite


def baselines_dir(given: str | None, store: Store) -> Path:
    """--baselines, else $IRH_BASELINES, else STORE/baselines."""
    return Path(given or os.environ.get("IRH_BASELINES") or store.root / "baselines")


@dataclass(frozen=True)
class SavedBaseline:
    path: Path
    n_values: int
    left_out: list[str]


def save_suite_baseline(
    suite: Suite, store: Store, directory: Path, left_out_patterns: list[str] | None, reason: str | None, **execution
) -> SavedBaseline:
    """Run the suite (cache-aware) but the stages left out, and save its means as the expected values."""
    if bool(left_out_patterns) != bool(reason):
        raise HarnessError("--not-covered and --reason go together: say which systems are left out and why")
    left_out = set(select(suite, left_out_patterns, "--not-covered")) if left_out_patterns else set()
    pairs = [p for p in select(suite, None) if p not in left_out]
    if not pairs:
        raise HarnessError("--not-covered leaves nothing to save", file=str(suite.path))
    results = run_suite(suite, results=store, only=as_patterns(pairs) if left_out else None, **execution)
    if results.missing:
        raise HarnessError(f"no results for {', '.join('/'.join(m) for m in results.missing)}", file=str(suite.path))
    uncovered: dict[str, dict[str, str]] = {}
    for pair in sorted(left_out):
        ds, _, system = pair.partition("/")
        uncovered.setdefault(ds, {})[system] = reason
    path = baseline_path(directory, suite)
    baseline = make_baseline(suite, results, uncovered)
    save_baseline(path, baseline)
    n = sum(len(metrics) for systems in baseline["expected"].values() for metrics in systems.values())
    return SavedBaseline(path, n, sorted(left_out))


def regress_suite(
    suite: Suite, store: Store, directory: Path, only: list[str] | None, allow_suite_change: bool, **execution
) -> tuple[dict, Path, list[Row]]:
    """Run the suite (cache-aware) and compare its means with the baseline: (baseline, its path, rows)."""
    path = baseline_path(directory, suite)
    baseline = load_baseline(path, suite)
    changed = check_suite_digest(baseline, suite, str(path), allow_suite_change)
    left_out = not_covered(baseline)
    selected = select(suite, only)
    pairs = [p for p in selected if p not in left_out]
    if not pairs:
        why = "; ".join(sorted({left_out[p] for p in selected if p in left_out}))
        raise HarnessError(
            f"nothing to check: the baseline does not cover {', '.join(selected)} ({why})", file=str(path)
        )
    results = run_suite(suite, results=store, only=as_patterns(pairs) if only or left_out else None, **execution)
    rows = compare(baseline, results, suite, only, suite_changed=changed, file=str(path))
    if not checked(rows):
        raise HarnessError(f"nothing checked: the baseline expects no value of {', '.join(pairs)}", file=str(path))
    return baseline, path, rows
