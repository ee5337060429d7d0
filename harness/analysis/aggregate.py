"""Suite-level means: dataset groups (CQADupStack = mean of its subforums) and the mean over datasets (the BEIR
average), computed only over the datasets every system has results on, and saying which those were."""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean

from harness.suite.config import Suite
from harness.suite.results import Results

OVERALL = "*"  # key of the mean over every unit in Aggregate.depth_limited


@dataclass
class Aggregate:
    metrics: tuple[str, ...]
    groups: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # group → system → metric → mean
    group_members: dict[str, list[str]] = field(default_factory=dict)
    means: dict[str, dict[str, float]] = field(default_factory=dict)  # system → metric → mean over units
    units: list[str] = field(default_factory=list)  # datasets/groups the means are over
    unit_means: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # unit → system → metric → mean
    excluded: dict[str, str] = field(default_factory=dict)  # unit → why it is not in the means
    # group (or OVERALL for ``means``) → the (system, metric) whose mean averages at least one depth-limited run
    depth_limited: dict[str, set[tuple[str, str]]] = field(default_factory=dict)


def aggregate(suite: Suite, results: Results) -> Aggregate:
    metrics = tuple(m for m in suite.metrics if all(m in suite.metrics_for(d.name) for d in suite.datasets))
    nested = results.nested()
    systems = [s.name for s in suite.systems if any(s.name in nested.get(d.name, {}) for d in suite.datasets)]
    agg = Aggregate(metrics)
    units: dict[str, list[str]] = {}
    for d in suite.datasets:
        units.setdefault(d.group or d.name, []).append(d.name)
    for unit, members in units.items():
        values = {}
        for system in systems:
            if all(system in nested.get(m, {}) for m in members):
                values[system] = {metric: fmean([nested[m][system][metric] for m in members]) for metric in metrics}
        agg.unit_means[unit] = values
        agg.depth_limited[unit] = {
            (system, metric)
            for system in values
            for m in members
            for metric in results.info.get((m, system), {}).get("depth_limited", ())
        }
        if len(members) > 1 or suite.dataset(members[0]).group:
            agg.groups[unit] = values
            agg.group_members[unit] = members
    for unit, values in agg.unit_means.items():
        missing = [s for s in systems if s not in values]
        if not systems:
            continue
        if missing:
            agg.excluded[unit] = f"no results for {', '.join(missing)}"
        else:
            agg.units.append(unit)
    agg.depth_limited[OVERALL] = set().union(*(agg.depth_limited[u] for u in agg.units))
    if agg.units:
        for system in systems:
            agg.means[system] = {
                metric: fmean([agg.unit_means[u][system][metric] for u in agg.units]) for metric in metrics
            }
    return agg
