"""Where a report's numbers come from: per stored run its key, creation, timing, depth, configuration and content
digests; library versions and hardware seen across the runs; the git commit the report is made from."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.core.git import git_state
from harness.report.configs import system_configs
from harness.store import Store
from harness.suite.config import Suite, SystemSpec
from harness.suite.results import Results

ROOT = Path(__file__).resolve().parents[2]


def provenance(suite: Suite, store: Store, results: Results, started: datetime) -> dict[str, Any]:
    """Per stored run: key, when it was created, wall time, depth, content digests (model weights, run files), and
    whether its evaluation was read from the store or computed for this report; library versions and hardware
    seen across the runs; the git commit the report was made from."""
    from harness.core.provenance import library_versions

    labels = {s.name: s.label or s.name for s in suite.systems}
    runs, versions, machines = [], {}, Counter()
    for (ds_name, system), info in results.info.items():
        meta = store.meta("runs", info["run_key"])
        spec = suite.system(system)
        eval_created = (
            store.meta("evals", info["eval_key"]).get("created") if store.has_eval(info["eval_key"]) else None
        )
        runs.append(
            {
                "dataset": ds_name,
                "system": system,
                "label": labels[system],
                "kind": spec.kind,
                "run_key": info["run_key"],
                "upstream": meta.get("upstream", []),
                "created": meta.get("created"),
                "worker": meta.get("worker"),
                "wall_seconds": meta.get("wall_seconds"),
                "index_seconds": meta.get("index_seconds"),  # corpus-side share of wall_seconds
                "n_queries": meta.get("n_queries"),
                "depth": meta.get("max_depth"),
                "config": meta.get("config", {}),
                "stage": _stage(spec),
                "content_digests": info["content_digests"],  # as recorded when it was run
                "eval_key": info["eval_key"],
                "eval_created": eval_created,
                "eval_cached": eval_created is not None and _before(eval_created, started),
            }
        )
        for lib, v in meta.get("versions", {}).items():
            versions.setdefault(lib, Counter())[v] += 1
        if meta.get("hardware"):
            machines[json.dumps(meta["hardware"], sort_keys=True)] += 1
    now = library_versions()
    return {
        "git": git_state(ROOT),  # the checkout the report is made from
        "report_versions": now,
        "runs": runs,
        "configs": system_configs(runs),  # one readable row per system
        "versions": [{"library": lib, "runs": dict(c), "now": now.get(lib)} for lib, c in sorted(versions.items())],
        "hardware": [{**json.loads(h), "runs": n} for h, n in machines.most_common()],
        "cache": {
            "runs": len(runs),
            "evals_cached": sum(r["eval_cached"] for r in runs),
            "evals_computed": sum(not r["eval_cached"] for r in runs),
            "note": "runs are read from the store, never recomputed by a report; whether a run was a cache hit "
            "when `irh run` ran is in that command's log, its creation time is shown here",
        },
    }


def _stage(spec: SystemSpec) -> dict[str, Any]:
    """How the suite places the system: its output depth, or what it reranks (and how deep), or what it fuses."""
    if spec.first_stage:
        return {"first_stage": spec.first_stage, "depth": spec.depth}
    return {"k": spec.k} | ({"inputs": list(spec.inputs)} if spec.inputs else {})


def _before(timestamp: str, started: datetime) -> bool:
    try:
        return datetime.fromisoformat(timestamp) < started.replace(microsecond=0)
    except ValueError:
        return False
