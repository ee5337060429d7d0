"""Time our vectorised randomization test against ranx's Fisher randomization test, in one process.

Workload: ``--n-systems`` systems each tested against one baseline with ``--n-permutations`` sign flips over
``--n-queries`` queries. Scores are SYNTHETIC (seeded, in [0, 1]); only speed and p-value agreement are measured.
ranx is timed after a JIT warm-up (numba compilation excluded) and runs one system at a time, as ``ranx.compare``
does; ours tests all systems in one call sharing the sign matrices. Writes JSON to ``--out``.

    python benchmarks/perf_stats.py --out results/perf/stats.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
from harness.analysis.stats import randomization_test_many


def synthetic_scores(n_systems: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A baseline and systems that differ from it by small, graded mean effects (so p-values are not all 0)."""
    rng = np.random.default_rng(seed)
    baseline = rng.random(n_queries)
    effects = np.linspace(0.005, 0.05, n_systems)[:, None]
    systems = np.clip(baseline + effects + rng.normal(0.0, 0.25, (n_systems, n_queries)), 0.0, 1.0)
    return baseline, systems


def time_ours(baseline: np.ndarray, systems: np.ndarray, n_permutations: int, seed: int, repeats: int):
    randomization_test_many(baseline[:50], systems[:1, :50], 1_000, seed)  # warm-up (BLAS threads)
    seconds, results = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        results = randomization_test_many(baseline, systems, n_permutations, seed, exact=False)
        seconds.append(time.perf_counter() - start)
    return seconds, [r.p_value for r in results]


def time_ranx(baseline: np.ndarray, systems: np.ndarray, n_permutations: int, seed: int):
    from ranx.statistical_tests import fisher_randomization_test

    fisher_randomization_test(baseline, systems[0], 100, 0.05, seed)  # JIT warm-up
    start = time.perf_counter()
    p_values = [float(fisher_randomization_test(baseline, s, n_permutations, 0.05, seed)[0]) for s in systems]
    return time.perf_counter() - start, p_values


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("numpy", "scipy", "ranx", "numba", "statsmodels"):
        try:
            out[pkg] = version(pkg)
        except Exception:  # pragma: no cover - optional in odd environments
            out[pkg] = "unknown"
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-permutations", type=int, default=100_000)
    parser.add_argument("--n-systems", type=int, default=10)
    parser.add_argument("--n-queries", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of ours (the median is reported)")
    parser.add_argument("--out", type=Path, default=Path("results/perf/stats.json"))
    args = parser.parse_args(argv)

    baseline, systems = synthetic_scores(args.n_systems, args.n_queries, args.seed)
    ours_runs, ours_p = time_ours(baseline, systems, args.n_permutations, args.seed, args.repeats)
    ranx_seconds, ranx_p = time_ranx(baseline, systems, args.n_permutations, args.seed)
    ours_seconds = statistics.median(ours_runs)

    p0 = ours_p[0]
    mc_se = float(np.sqrt(max(p0 * (1 - p0), 1e-12) / args.n_permutations))
    report = {
        "benchmark": "paired randomization test, n_systems vs one baseline",
        "data": "synthetic seeded per-query scores in [0, 1] (not real runs)",
        "n_permutations": args.n_permutations,
        "n_systems": args.n_systems,
        "n_queries": args.n_queries,
        "seed": args.seed,
        "ours_seconds": round(ours_seconds, 4),
        "ours_seconds_runs": [round(s, 4) for s in ours_runs],
        "ranx_seconds": round(ranx_seconds, 4),
        "speedup": round(ranx_seconds / ours_seconds, 1),
        "p_value_ours_first_system": p0,
        "p_value_ranx_first_system": ranx_p[0],
        "p_value_abs_diff_first_system": abs(p0 - ranx_p[0]),
        "monte_carlo_standard_error": mc_se,
        "p_values_ours": ours_p,
        "p_values_ranx": ranx_p,
        "max_abs_p_diff_all_systems": max(abs(a - b) for a, b in zip(ours_p, ranx_p, strict=True)),
        "notes": "ranx timed after numba JIT warm-up, one system per call; ours: all systems in one call, "
        "float64 GEMM of shared sign blocks; p conventions differ slightly ((c+1)/(N+1) vs c/N)",
        "versions": _versions(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"ours {ours_seconds:.3f}s  ranx {ranx_seconds:.3f}s  speedup {report['speedup']}x  "
        f"(p first system: ours {p0:.5f}, ranx {ranx_p[0]:.5f}; MC s.e. {mc_se:.5f})  -> {args.out}"
    )
    return report


if __name__ == "__main__":
    main()
