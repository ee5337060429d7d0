"""``irh suites list`` / ``irh suites check``: which suites exist, and for each dataset what is on this machine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.data.availability import Availability, expected_count
from harness.data.datasets import DatasetRef
from harness.store import Store
from harness.suite.config import Suite, load_suite
from harness.suite.plan import make_system, unavailable


@dataclass(frozen=True)
class PartCheck:
    part: str
    availability: Availability
    local_count: int | None
    expected: int | None

    def cell(self) -> str:
        a = self.availability
        if not a.local:
            return a.describe() if a.status != "licensed" else "licensed (see below)"
        if self.local_count is None:
            return "local"
        if self.expected is None:
            return f"local: {self.local_count:,}"
        if self.local_count == self.expected:
            return f"local: {self.local_count:,} ✓"
        return f"local: {self.local_count:,} ≠ {self.expected:,} expected"


def list_suites(folder: Path) -> list[Suite]:
    return [load_suite(p, check_datasets=False) for p in sorted(folder.glob("*.toml"))]


def check_dataset(ds: DatasetRef) -> dict[str, PartCheck]:
    checks = {}
    for part in ("docs", "queries", "qrels"):
        a = ds.availability(part)
        try:
            count = ds.count(part) if a.local else None
        except Exception as e:
            a, count = Availability("error", f"{type(e).__name__}: {e}"), None
        checks[part] = PartCheck(part, a, count, expected_count(ds.irds_id, part))
    return checks


def check_suite(suite: Suite, store: Store) -> str:
    lines = [f"{suite.name}: {suite.description}".rstrip(": "), ""]
    header = ["dataset", "ir_datasets id", "docs", "queries", "qrels", "systems that run here"]
    rows, notes = [], []
    for ds in suite.datasets:
        checks = check_dataset(ds)
        runnable = []
        for spec in suite.systems:
            reason = None if spec.datasets is None or ds.name in spec.datasets else "not listed"
            reason = reason or unavailable(ds, make_system(spec, store))
            if reason is None:
                runnable.append(spec.name)
        rows.append([ds.name, ds.irds_id, *(checks[p].cell() for p in ("docs", "queries", "qrels")),
                     ", ".join(runnable) or "none"])  # fmt: skip
        for c in checks.values():
            a = c.availability
            if a.status == "licensed":
                notes.append(f"{ds.name} {c.part}: {a.detail}; {a.location()}")
            elif a.status == "download":
                notes.append(f"{ds.name} {c.part}: {a.location()}")
            elif a.status == "error":
                notes.append(f"{ds.name} {c.part}: {a.detail}")
        if checks["docs"].availability.local and (partial := ds.partial_corpus()):
            notes.append(f"{ds.name} docs: {partial}; full-corpus retrievers are skipped, rerankers can still run")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines += [fmt.format(*header), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r) for r in rows)]
    if notes:
        lines += ["", *notes]
    lines += ["", "✓ = record count equals the one ir_datasets publishes; ≠ flags a difference."]
    return "\n".join(lines)
