"""Metric names in ir_measures notation, evaluated exactly as trec_eval does.

Every measure goes to trec_eval's own code (pytrec_eval) when it can. A cut-off measure that trec_eval has no cut-off
for (``RR@10``) is trec_eval's measure on the run truncated to the cut-off, which is what ``trec_eval -M 10`` computes.
Only measures trec_eval lacks entirely (``Judged@10``) go to ir_measures' other providers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import ir_measures
from ir_measures.measures.base import Measure

from harness.core.errors import HarnessError


def parse_metric(name: str) -> Measure:
    """Parse one ir_measures name; unknown names or parameters raise HarnessError."""
    try:
        return ir_measures.parse_measure(name)
    except Exception as e:  # ir_measures raises NameError/ValueError/TypeError depending on what is wrong
        raise HarnessError(f"unknown metric {name!r} ({e})") from None


def metric_cutoff(measure: Measure) -> int | None:
    return measure.params.get("cutoff")


def is_depth_limited(measure: Measure, run_depth: int) -> bool:
    """True when the run is shallower than the measure looks (AP@1000 on a top-100 run; AP with no cut-off).

    Measures with no cut-off are taken to look at depth 1000, the TREC convention the runs are judged at.
    """
    cutoff = metric_cutoff(measure)
    if measure.NAME in ("RR", "Success", "P", "nDCG", "R", "AP", "Judged") or cutoff is not None:
        return run_depth < (cutoff if cutoff is not None else 1000)
    return False


@dataclass(frozen=True)
class MetricRoute:
    """How one measure is computed: the measure given to the provider and the depth to truncate runs to first."""

    measure: Measure
    computed_as: Measure
    truncate_to: int | None
    provider: str


def route(measure: Measure) -> MetricRoute:
    trec = ir_measures.pytrec_eval
    if trec.supports(measure):
        return MetricRoute(measure, measure, None, "pytrec_eval")
    cutoff = metric_cutoff(measure)
    if cutoff is not None:
        params = {k: v for k, v in measure.params.items() if k != "cutoff"}
        uncut = ir_measures.measures.registry[measure.NAME](**params)
        if trec.supports(uncut):
            return MetricRoute(measure, uncut, cutoff, "pytrec_eval")
    return MetricRoute(measure, measure, None, "ir_measures")


def routes(names: Iterable[str]) -> list[MetricRoute]:
    return [route(parse_metric(n)) for n in names]
