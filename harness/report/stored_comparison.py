"""The stored comparison of a suite (``<results>/compare/<suite>/``): gathering its inputs from the store, computing it
(harness.analysis.suite_comparison, pure), writing its tables, plots and ``compare.json`` under a manifest, reading it
back, and telling whether it still matches the stored evaluations.

Reading never builds anything: the inputs are the stored evaluation, the datasets' queries, judgments and documents,
and, for the BM25 query features, a stored run of the suite's BM25 system. No index is opened and no JVM started.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.analysis.features import BM25Scores, bm25_from_run, dataset_features, skipped_features_notes
from harness.analysis.suite_comparison import SuiteComparison, chosen, compare_suite
from harness.core.hashing import digest_file, digest_value
from harness.store import MANIFEST, Damaged, Store, atomic_write, check_manifest, write_json, write_manifest
from harness.suite.config import Suite
from harness.suite.results import Results

if TYPE_CHECKING:  # matplotlib is loaded only when a figure is saved
    from matplotlib.figure import Figure

log = logging.getLogger("irh")

SUMMARY = "compare.json"
FORMATS = ("png", "svg")  # the stored plots; the LaTeX export draws the same plots as PDF
SETTINGS = ("test", "correction", "alpha", "tie_tolerance", "n_permutations")


def directory(store: Store, suite: Suite, condensed: bool = False) -> Path:
    """Where a suite's comparison is stored; that of its condensed lists (``irh compare --condensed``) beside it."""
    return store.root / "compare" / (f"{suite.name}.condensed" if condensed else suite.name)


# ---------------------------------------------------------------- computing from the store
def ensure_comparison(
    suite: Suite,
    results: Results,
    store: Store,
    baselines: list[str] | None = None,
    metric: str | None = None,
    with_plots: bool = True,
) -> str | None:
    """Make the suite's stored comparison current: kept when it was computed from exactly these inputs, else computed
    from the stored evaluations and stored. Returns why it was computed, None when the stored one was used.
    ``baselines``/``metric`` None: the stored comparison's own (a report shows the last comparison), else the suite's.
    """
    out_dir = directory(store, suite, results.condensed)
    reason = stale_reason(out_dir, suite, results, baselines, metric, with_plots)
    if reason is not None:
        cmp = compare_stored(suite, results, store, baselines, metric)
        inputs = inputs_digest(suite, results, cmp.baselines, cmp.metric)
        save_comparison(cmp, out_dir, with_plots, inputs)
    return reason


def inputs_digest(suite: Suite, results: Results, baselines: list[str], metric: str) -> str:
    """What a stored comparison was computed from: each stored evaluation (its key covers the run's bytes, the
    queries, judgments and measures) and its means, the run's content digests, the significance settings, the
    choices, the systems' names and labels, and the code of the analysis."""
    sig = suite.significance
    return digest_value(
        {
            "evaluations": sorted(
                [d, s, i.get("eval_key"), i.get("content_digests")] for (d, s), i in results.info.items()
            ),
            "means": results.nested(),
            "significance": {name: str(getattr(sig, name)) for name in SETTINGS},
            "baselines": baselines,
            "metric": metric,
            "systems": [[s.name, s.label, s.kind] for s in suite.systems],
            "datasets": [[d.name, d.irds_id] for d in suite.datasets],
            "code": _analysis_code(),
        }
    )


def _analysis_code() -> list[str]:
    analysis = Path(importlib.util.find_spec("harness.analysis").origin).parent
    return [digest_file(p) for p in [*sorted(analysis.rglob("*.py")), Path(__file__)]]


def compare_stored(
    suite: Suite, results: Results, store: Store, baselines: list[str] | None = None, metric: str | None = None
) -> SuiteComparison:
    """The suite's comparison from its stored evaluation, with the query features of every compared dataset."""
    bases = list(baselines or ([suite.baseline] if suite.baseline else []))
    features = {}
    for ds in suite.datasets:
        if not any((ds.name, b) in results.info for b in bases):
            continue
        log.info("compare: query features of %s", ds.name)
        bm25 = bm25_scores(suite, ds.name, results, store, bases)
        docs = ds.availability("docs")  # never ds.has_docs(): that is True for a corpus ir_datasets would download
        no_docs = None if docs.local else f"the documents of {ds.irds_id} are not on this machine ({docs.describe()})"
        features[ds.name] = dataset_features(ds.queries(), ds.qrels(), ds.doc_texts, bm25, no_docs)
    cmp = compare_suite(suite, results, baselines, metric, features=features)
    cmp.notes += [n for ds, (_, facts) in features.items() for n in skipped_features_notes(ds, facts)]
    return cmp


def bm25_scores(suite: Suite, dataset: str, results: Results, store: Store, baselines: list[str]) -> BM25Scores | None:
    """BM25 scores of the relevant documents from the stored run of the suite's BM25 system (kind ``bm25``, or a
    retriever named or labelled BM25; the baselines first): known for the run's top k. None without such a run."""
    stored = [s for s in suite.systems if (dataset, s.name) in results.info]
    stored.sort(key=lambda s: s.name not in baselines)  # stable: baselines first, then suite order
    for spec in stored:
        named = spec.role == "retriever" and "bm25" in f"{spec.name} {spec.label or ''}".lower()
        if spec.kind == "bm25" or named:
            info = results.info[(dataset, spec.name)]
            source = (
                f"scores in the stored run of system {spec.name!r} ({spec.label or spec.name}, top {info['depth']}); "
                "n/a when no relevant document is in that run"
            )
            return bm25_from_run(store.load_run(info["run_key"]).scores, source)
    return None


# ---------------------------------------------------------------- writing
def save_comparison(
    cmp: SuiteComparison, out_dir: Path, with_plots: bool = True, inputs: str | None = None
) -> dict[str, Any]:
    """Write the tables (parquet + CSV), the plots (PNG + SVG) and ``compare.json`` (with ``inputs``, the digest of
    what it was computed from) under ``out_dir``, then its manifest (what readers check); returns the JSON."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)  # until the new manifest is written, the folder is incomplete
    files = {}
    for name, df in cmp.tables().items():
        for fmt in ("parquet", "csv"):
            _write_table(df, out_dir / f"{name}.{fmt}")
            files[f"{name}.{fmt}"] = f"{name}.{fmt}"
    stored_plots = []
    if with_plots:
        from harness.analysis import plots  # its statistics load scipy: drawn when stored, never when read

        for spec in plots.plot_specs(cmp):
            fig = plots.figure(spec, cmp.labels, cmp.settings["tie_tolerance"])
            paths = save_figure(fig, out_dir / "plots" / spec.name, FORMATS)
            stored_plots.append(
                {"kind": spec.kind, "dataset": spec.dataset, "metric": spec.metric, "baseline": spec.baseline}
                | {"files": [f"plots/{p.name}" for p in paths]}  # relative to the comparison's folder
            )
    files[SUMMARY] = SUMMARY
    summary = cmp.to_json() | {"dir": str(out_dir), "files": files, "plots": stored_plots, "inputs": inputs}
    write_json(out_dir / SUMMARY, summary)
    write_manifest(out_dir)
    return summary


def save_figure(fig: Figure, stem: Path, formats: tuple[str, ...]) -> list[Path]:
    """Write ``stem.<fmt>`` for each format; returns the paths."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        metadata = {"Date": None} if fmt == "svg" else {"CreationDate": None} if fmt == "pdf" else None
        atomic_write(
            path, lambda tmp, fmt=fmt, metadata=metadata: fig.savefig(
                tmp, format=fmt, dpi=150, bbox_inches="tight", metadata=metadata
            ),
        )  # fmt: skip  # tight: text reaching past the axes (point labels, notes) is not cut off
        fig.set_layout_engine("none")  # keep the positions laid out for the first format; do not solve again
        paths.append(path)
    return paths


def _write_table(df: pd.DataFrame, path: Path) -> None:
    df = df.copy()
    for col in df.columns:  # parquet/CSV want scalars: lists (pipelines) as " > "-joined text
        if df[col].dtype == object and df[col].map(lambda v: isinstance(v, list)).any():
            df[col] = df[col].map(lambda v: " > ".join(v) if isinstance(v, list) else v)
    if path.suffix == ".parquet":
        atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))
    else:
        atomic_write(path, lambda tmp: df.to_csv(tmp, index=False))


# ---------------------------------------------------------------- reading
def read_summary(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / SUMMARY).read_text())


def read_comparison(out_dir: Path) -> SuiteComparison:
    """The stored comparison as computed (tables from parquet, the rest from ``compare.json``)."""
    s = read_summary(out_dir)
    tables = {attr: pd.read_parquet(out_dir / f"{name}.parquet") for name, attr in SuiteComparison.TABLES.items()}
    return SuiteComparison(
        suite=s["suite"], settings=s["settings"], baselines=s["baselines"], metric=s["metric"], labels=s["labels"],
        datasets=s["datasets"], **tables,
        missing=[(m["dataset"], m["system"]) for m in s["missing"]],
        skipped=[(m["dataset"], m["system"], m["reason"]) for m in s["skipped"]], notes=s["notes"],
    )  # fmt: skip


def stale_reason(
    out_dir: Path,
    suite: Suite,
    results: Results,
    baselines: list[str] | None = None,
    metric: str | None = None,
    with_plots: bool = True,
) -> str | None:
    """Why the stored comparison cannot be used for these inputs (see ``ensure_comparison``), or None."""
    path = out_dir / SUMMARY
    if not path.exists():
        return "no stored comparison"
    try:  # derived from the checked evaluations alone, so a damaged one is recomputed rather than refused
        check_manifest(out_dir, "stored comparison")
    except Damaged as e:
        return e.problem
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        return f"stored comparison unreadable ({e})"
    if baselines is None and metric is None:
        baselines, metric = summary.get("baselines", []), summary.get("metric", "")
    else:
        baselines, metric = chosen(suite, baselines, metric)
    if summary.get("baselines") != baselines or summary.get("metric") != metric:
        return f"stored comparison is against {summary.get('baselines')} on {summary.get('metric')}"
    if summary.get("inputs") != inputs_digest(suite, results, baselines, metric):
        return "stored comparison does not match the stored evaluations, settings or analysis code (computed before)"
    if with_plots and not summary.get("plots"):
        return "stored comparison has no plots"
    for p in summary.get("plots", []):
        if not all((out_dir / f).exists() for f in p["files"]):
            return "a stored plot file is missing"
    for name in SuiteComparison.TABLES:
        if not (out_dir / f"{name}.parquet").exists():
            return f"{name}.parquet is missing"
    return None
