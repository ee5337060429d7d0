"""Measures as values: an ir_measures measure, parsed once from its name, evaluated exactly as trec_eval does.

A metric name is parsed once (``parse_metric``) into an ir_measures ``Measure`` that carries its parameters, its
default and its aggregator (mean for most, sum for counts such as NumRet), and that value is passed around; its one
label everywhere (tables, stores, file names through ``harness.core.slugs``) is ``str(measure)``, ir_measures'
canonical name, so ``AP(rel=1)`` and ``AP`` are the same measure.

Every measure goes to trec_eval's own code (pytrec_eval) when it can. A cut-off measure that trec_eval has no cut-off
for (``RR@10``) is trec_eval's measure on the run truncated to the cut-off, which is what ``trec_eval -M 10`` computes.
NumRel at another relevance level (``NumRel(rel=2)``, trec_eval ``-l2``'s num_rel) is counted from the judgments.
Only measures trec_eval lacks entirely (``Judged@10``, on the run's top 10 in trec_eval's order) go to ir_measures'
other installed providers; a measure that no installed provider computes (``RBP``) is refused when parsed, not when
evaluated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

import ir_measures
from ir_measures.measures.base import Measure

from harness.core.errors import HarnessError


def parse_metric(name: str | Measure) -> Measure:
    """The measure a name denotes (a Measure is returned as is); unknown names, bad parameters and measures that no
    installed evaluator computes raise a one-line HarnessError naming the measure. Each name is parsed once."""
    return _checked(name, str(name)) if isinstance(name, Measure) else _parse_name(name)


@cache
def _parse_name(name: str) -> Measure:
    try:
        measure = ir_measures.parse_measure(name)
    except Exception as e:  # NameError/ValueError/TypeError depending on what is wrong
        raise HarnessError(f"unknown metric {name!r} ({e})") from None
    return _checked(measure, name)


def _checked(measure: Measure, name: str) -> Measure:
    try:
        route(measure)  # refuses what nothing installed can compute
    except AssertionError as e:  # ir_measures checks parameter values with assert when asked (IPrec@0, SetF(beta=1))
        raise HarnessError(f"metric {name!r}: invalid parameter ({e})") from None
    return measure


def parse_metrics(names: Iterable[str | Measure]) -> tuple[Measure, ...]:
    """Each measure once, in the order given (``AP`` and ``AP(rel=1)`` are one measure)."""
    out: dict[str, Measure] = {}
    for n in names:
        m = parse_metric(n)
        out.setdefault(label(m), m)
    return tuple(out.values())


def label(measure: Measure | str) -> str:
    """The one name a measure is shown and stored under: ir_measures' canonical form."""
    return str(parse_metric(measure))


# Diagnostics: evaluated for every stored run beside the suite's measures and shown with them, never tested for
# significance nor held in regression baselines. Judged@10, the fraction of the top 10 that is judged, says where a
# run's scores rest on shallow judgments (unjudged documents count as non-relevant).
JUDGED_AT_10 = "Judged@10"
DIAGNOSTICS = (JUDGED_AT_10,)


def evaluated_measures(metrics: Iterable[str]) -> tuple[str, ...]:
    """The measures a suite's runs are evaluated by: its own, then the diagnostics it does not name itself."""
    return tuple(dict.fromkeys([*metrics, *DIAGNOSTICS]))


def metric_cutoff(measure: Measure) -> int | None:
    return measure.params.get("cutoff")


def is_depth_limited(measure: Measure | str, run_depth: int) -> bool:
    """True when the run is shallower than the measure looks (AP@1000 on a top-100 run; AP with no cut-off).

    Measures with no cut-off are taken to look at depth 1000, the TREC convention the runs are judged at.
    """
    measure = parse_metric(measure)
    cutoff = metric_cutoff(measure)
    if measure.NAME in ("RR", "Success", "P", "nDCG", "R", "AP", "Judged") or cutoff is not None:
        return run_depth < (cutoff if cutoff is not None else 1000)
    return False


def aggregate_values(measure: Measure, values: Iterable[float]) -> float:
    """The measure's own aggregate over queries (trec_eval's 'all' line): a mean, or a sum for counts."""
    agg = measure.aggregator()
    for v in values:
        agg.add(float(v))
    return float(agg.result())


def empty_ranking_value(measure: Measure, judgments: Mapping[str, int]) -> float:
    """The value of a judged query the run returned nothing for, as ``trec_eval -c`` counts it: the query still counts
    (NumQ 1) and still has its relevant documents (NumRel); every other measure of an empty ranking is 0."""
    if measure.NAME == "NumQ":
        return 1.0
    if measure.NAME == "NumRel":
        return float(sum(rel >= measure.params.get("rel", 1) for rel in judgments.values()))
    return 0.0


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
    if measure.NAME == "NumRel":  # at another relevance level: trec_eval -l N's num_rel, a count of the qrels alone
        return MetricRoute(measure, measure, None, "qrels")
    cutoff = metric_cutoff(measure)
    if cutoff is not None:
        params = {k: v for k, v in measure.params.items() if k != "cutoff"}
        uncut = ir_measures.measures.registry[measure.NAME](**params)
        if trec.supports(uncut):
            return MetricRoute(measure, uncut, cutoff, "pytrec_eval")
        if measure.NAME == "Judged":  # ir_measures breaks score ties by doc id ascending, trec_eval descending: the
            return MetricRoute(measure, uncut, cutoff, "ir_measures")  # top k in trec_eval's order, then judged/len
    if not any(p.is_available() and p.supports(measure) for p in ir_measures.DefaultPipeline.providers):
        raise HarnessError(f"metric {str(measure)!r}: no installed evaluator computes it (trec_eval does not)")
    return MetricRoute(measure, measure, None, "ir_measures")


def routes(measures: Iterable[str | Measure]) -> list[MetricRoute]:
    return [route(m) for m in parse_metrics(measures)]
