"""Suite files (TOML) → validated Suite objects. Every error names the file, the field and, where found, the line.

name = "beir-local"
metrics = ["nDCG@10", "R@100"]
baseline = "bm25"

[datasets.scifact]
id = "beir/scifact/test"

[systems.bm25]
kind = "bm25"
k1 = 0.9

[systems.bm25-ce]              # a reranker: first_stage and depth make it a pipeline stage
kind = "cross-encoder"
first_stage = "bm25"           # or "candidates": the dataset's own candidate lists (scoreddocs / candidates file)
depth = 100

[significance]
test = "t-test"                # t-test | wilcoxon | randomization
correction = "holm"            # none | bonferroni | holm | bh

[regression]
tolerance = 0.005
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from harness.core.errors import HarnessError
from harness.core.hashing import digest_value
from harness.core.measures import label
from harness.core.significance import Correction, Test
from harness.data.datasets import DatasetRef, check_dataset_id, default_excludes_self_matches
from harness.suite.toml_fields import TomlFields, read_toml
from harness.system import NonNegativeFloat, PositiveInt, build_config, system_class, validated

FILE_PARTS = ("docs", "queries", "qrels", "candidates")  # a collection from files (harness.data.local)
STAGE_KEYS = ("kind", "first_stage", "depth", "inputs", "k", "datasets", "label")
CANDIDATES = "candidates"  # first_stage of a reranker over the dataset's candidates (ir_datasets scoreddocs)
DEFAULT_K = 1000
DEFAULT_DEPTH = 100
# The suite name names folders (results/compare/NAME, reports/NAME, baselines/NAME.json): one safe path component.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class SystemSpec:
    """One named system of a suite: a row in its results tables and one cached stage per dataset."""

    name: str
    kind: str
    role: str
    config: Any
    k: PositiveInt = DEFAULT_K  # output depth of a retriever or fusion
    first_stage: str | None = None  # rerankers: the system whose run they rerank
    depth: PositiveInt | None = None  # rerankers: how many candidates they rerank
    inputs: tuple[str, ...] = ()  # fusion: the systems fused
    datasets: tuple[str, ...] | None = None  # restrict to these suite datasets
    label: str | None = None

    @property
    def upstream(self) -> tuple[str, ...]:
        return (self.first_stage,) if self.first_stage else self.inputs


@dataclass(frozen=True)
class Significance:
    test: Test = Test.T_TEST
    correction: Correction = Correction.HOLM
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    n_permutations: PositiveInt = 100_000
    tie_tolerance: NonNegativeFloat = 0.0


@dataclass(frozen=True)
class Regression:
    tolerance: NonNegativeFloat = 0.005
    metric_tolerances: dict[str, NonNegativeFloat] = field(default_factory=dict)

    def tolerance_for(self, metric: str) -> float:
        return self.metric_tolerances.get(metric, self.tolerance)


@dataclass(frozen=True)
class Pipeline:
    """Systems run over datasets and the measures they are evaluated by: all that planning, running and evaluating
    need. A suite is a pipeline read from a file, with a name and its reporting settings; training runs its own
    systems as a bare pipeline."""

    datasets: tuple[DatasetRef, ...]
    systems: tuple[SystemSpec, ...]  # in dependency order: upstream systems first
    metrics: tuple[str, ...] = ()  # canonical measure names
    dataset_metrics: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def metrics_for(self, dataset: str) -> tuple[str, ...]:
        return self.dataset_metrics.get(dataset, self.metrics)

    def system(self, name: str) -> SystemSpec:
        return next(s for s in self.systems if s.name == name)

    def dataset(self, name: str) -> DatasetRef:
        return next(d for d in self.datasets if d.name == name)


@dataclass(frozen=True, kw_only=True)
class Suite(Pipeline):
    name: str
    path: Path
    description: str
    baseline: str | None
    significance: Significance
    regression: Regression
    digest: str
    allow_download: bool = False  # `irh run` may let ir_datasets download what a job needs (as --allow-download)


# ---------------------------------------------------------------- parsing
def load_suite(path: str | Path, *, check_datasets: bool = True, digest_dir: str | None = None) -> Suite:
    path = Path(path)
    data, f = read_toml(path, "suite file")
    f.check_keys(
        data,
        ("name", "description", "metrics", "baseline", "datasets", "systems", "significance", "regression",
         "allow_download"),
        "",
    )  # fmt: skip
    name = f.get(data, "name", str, "", path.stem)
    if not NAME_RE.match(name):
        raise f.error(
            f"name {name!r} must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(it names folders under results/ and reports/)",
            "name",
        )
    description = f.get(data, "description", str, "", "")
    metrics = _metrics(f, f.str_list(data, "metrics", ""), "metrics")

    datasets, dataset_metrics = [], {}
    for ds_name, table in f.get(data, "datasets", dict, "").items():
        prefix = f"datasets.{ds_name}"
        if not isinstance(table, dict):
            raise f.error("expected a table", prefix)
        f.check_keys(table, ("id", *FILE_PARTS, "exclude_self_matches", "metrics", "group"), prefix)
        files = _dataset_files(f, table, prefix)
        irds_id = f"local/{ds_name}" if files else f.get(table, "id", str, prefix)
        if check_datasets and not files:
            try:
                check_dataset_id(irds_id)
            except HarnessError as e:
                raise f.error(e.message, f"{prefix}.id") from None
        exclude = f.get(table, "exclude_self_matches", bool, prefix, default_excludes_self_matches(irds_id))
        if "metrics" in table:
            dataset_metrics[ds_name] = _metrics(f, f.str_list(table, "metrics", prefix), f"{prefix}.metrics")
        group = f.get(table, "group", str, prefix, None)
        datasets.append(ref := DatasetRef(ds_name, irds_id, exclude, digest_dir, group, files))
        if check_datasets and files:
            ref.check_files()
    if not datasets:
        raise f.error("a suite needs at least one dataset", "datasets")

    specs = {}
    for sys_name, table in f.get(data, "systems", dict, "").items():
        specs[sys_name] = system_spec(f, sys_name, table, {d.name for d in datasets})
    if not specs:
        raise f.error("a suite needs at least one system", "systems")
    if CANDIDATES not in specs and any(s.first_stage == CANDIDATES for s in specs.values()):
        # first_stage = "candidates": each dataset's own candidate lists (its scoreddocs), shown as a system
        specs = {CANDIDATES: system_spec(f, CANDIDATES, {"kind": "scoreddocs"}, set()), **specs}
    ordered = dependency_order(f, specs)
    _check_labels(f, specs)

    baseline = f.get(data, "baseline", str, "", None)
    if baseline is not None and baseline not in specs:
        raise f.error(f"baseline {baseline!r} is not a system of this suite", "baseline")
    significance = _significance(f, f.get(data, "significance", dict, "", {}))
    regression = _regression(f, f.get(data, "regression", dict, "", {}))
    return Suite(
        name=name,
        path=path,
        description=description,
        datasets=tuple(datasets),
        systems=tuple(ordered),
        metrics=metrics,
        dataset_metrics=dataset_metrics,
        baseline=baseline,
        significance=significance,
        regression=regression,
        digest=digest_value(data),
        allow_download=f.get(data, "allow_download", bool, "", False),
    )


def _dataset_files(f: TomlFields, table: dict, prefix: str) -> tuple[tuple[str, str, str], ...]:
    """A collection given as files: (part, absolute path, path as shown), paths relative to the suite file."""
    given = [part for part in FILE_PARTS if part in table]
    if not given:
        return ()
    if "id" in table:
        raise f.error(f"a dataset is an ir_datasets id or files ({', '.join(given)}), not both", f"{prefix}.id")
    for part in ("queries", "qrels"):
        if part not in table:
            raise f.error(f"a collection from files needs {part} (a file)", f"{prefix}.{part}")
    files = []
    for part in given:
        written = f.get(table, part, str, prefix)
        shown = os.path.normpath(f.path.parent / Path(written).expanduser())
        if not Path(shown).is_file():
            raise f.error(f"file not found: {shown}", f"{prefix}.{part}")
        files.append((part, str(Path(shown).resolve()), shown))
    return tuple(files)


def _metrics(f: TomlFields, names: tuple[str, ...], where: str) -> tuple[str, ...]:
    out: list[str] = []
    for i, n in enumerate(names):
        try:
            canonical = label(n)
        except HarnessError as e:
            raise f.error(e.message, f"{where}[{i}]") from None
        if canonical not in out:
            out.append(canonical)
    if not out:
        raise f.error("at least one metric is needed", where)
    return tuple(out)


def system_spec(f: TomlFields, name: str, table: Any, dataset_names: set[str]) -> SystemSpec:
    prefix = f"systems.{name}"
    if not isinstance(table, dict):
        raise f.error("expected a table", prefix)
    kind = f.get(table, "kind", str, prefix)
    try:
        cls = system_class(kind)
    except HarnessError as e:
        raise f.error(e.message, f"{prefix}.kind") from None
    params = {k: v for k, v in table.items() if k not in STAGE_KEYS}
    try:
        config = build_config(cls, params, prefix, f.path.parent)
    except HarnessError as e:
        raise f.error(e.message, e.field or prefix) from None
    first_stage = f.get(table, "first_stage", str, prefix, None)
    depth = f.get(table, "depth", int, prefix, None)
    inputs = f.str_list(table, "inputs", prefix, ())
    k = f.get(table, "k", int, prefix, DEFAULT_K)
    only = f.str_list(table, "datasets", prefix, None)
    label = f.get(table, "label", str, prefix, None)
    if cls.role == "reranker":
        if first_stage is None:
            raise f.error("a reranker needs first_stage (the system whose run it reranks)", f"{prefix}.first_stage")
        depth = DEFAULT_DEPTH if depth is None else depth
    else:
        for key, value in (("first_stage", first_stage), ("depth", depth)):
            if value is not None:
                raise f.error(f"only rerankers take {key} (kind {kind!r} is a {cls.role})", f"{prefix}.{key}")
    if cls.role == "fusion" and len(inputs) < 2:
        raise f.error("fusion needs at least two inputs", f"{prefix}.inputs")
    if cls.role != "fusion" and inputs:
        raise f.error(f"only fusion takes inputs (kind {kind!r} is a {cls.role})", f"{prefix}.inputs")
    try:
        cls.check_inputs(config, tuple(inputs))
    except HarnessError as e:
        raise f.error(e.message, f"{prefix}.{e.field}" if e.field else prefix) from None
    for d in only or ():
        if d not in dataset_names:
            raise f.error(f"dataset {d!r} is not in this suite", f"{prefix}.datasets")
    values = dict(name=name, kind=kind, role=cls.role, config=config, k=k, first_stage=first_stage, depth=depth)
    return _validated(f, SystemSpec, {**values, "inputs": tuple(inputs), "datasets": only, "label": label}, prefix)


def dependency_order(f: TomlFields, specs: dict[str, SystemSpec]) -> list[SystemSpec]:
    ordered: list[SystemSpec] = []
    state: dict[str, str] = {}

    def visit(name: str, via: str) -> None:
        if name not in specs:
            raise f.error(f"refers to {name!r}, which is not a system of this suite", via)
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise f.error(f"pipeline cycle through {name!r}", via)
        state[name] = "visiting"
        spec = specs[name]
        for up in spec.upstream:
            visit(up, f"systems.{name}.{'first_stage' if spec.first_stage else 'inputs'}")
        state[name] = "done"
        ordered.append(spec)

    for name in specs:
        visit(name, f"systems.{name}")
    return ordered


def _check_labels(f: TomlFields, specs: dict[str, SystemSpec]) -> None:
    """Systems are shown by label (else name) in every table and report: two with one label cannot be told apart."""
    seen: dict[str, str] = {}
    for spec in specs.values():
        shown = spec.label or spec.name
        if shown in seen:
            where = f"systems.{spec.name}.label" if spec.label else f"systems.{spec.name}"
            raise f.error(f"label {shown!r} is already used by system {seen[shown]!r}", where)
        seen[shown] = spec.name


def _significance(f: TomlFields, table: dict) -> Significance:
    """The [significance] table; a key left out takes the dataclass's default (written once, there)."""
    p = "significance"
    kinds = {
        "test": str,
        "correction": str,
        "alpha": (int, float),
        "n_permutations": int,
        "tie_tolerance": (int, float),
    }
    f.check_keys(table, tuple(kinds), p)
    values = {key: f.get(table, key, kind, p) for key, kind in kinds.items() if key in table}
    for key, enum in (("test", Test), ("correction", Correction)):
        if key in values:
            try:
                values[key] = enum(values[key])
            except ValueError:
                raise f.error(f"unknown {key} {values[key]!r} (known: {', '.join(enum)})", f"{p}.{key}") from None
    return _validated(f, Significance, values, p)


def _validated(f: TomlFields, cls: type, values: dict[str, Any], prefix: str) -> Any:
    try:
        return validated(cls, values, prefix)
    except HarnessError as e:
        raise f.error(e.message, e.field or prefix) from None


def _regression(f: TomlFields, table: dict) -> Regression:
    p = "regression"
    f.check_keys(table, ("tolerance", "metrics"), p)
    values: dict[str, Any] = {"tolerance": f.get(table, "tolerance", (int, float), p)} if "tolerance" in table else {}
    written = {}  # metric as written → tolerance
    for metric, value in f.get(table, "metrics", dict, p, {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise f.error(f"expected a number, got {value!r}", f"{p}.metrics.{metric}")
        written[metric] = float(value)
    try:
        regression = validated(Regression, {**values, "metric_tolerances": written}, p)
    except HarnessError as e:  # the dataclass field metric_tolerances is the suite's [regression] metrics
        raise f.error(e.message, (e.field or p).replace(f"{p}.metric_tolerances", f"{p}.metrics")) from None
    per_metric = {}
    for metric, value in regression.metric_tolerances.items():
        try:
            per_metric[label(metric)] = value
        except HarnessError as e:
            raise f.error(e.message, f"{p}.metrics.{metric}") from None
    return dataclasses.replace(regression, metric_tolerances=per_metric)
