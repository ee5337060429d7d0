"""The code a system runs, for its cache key: the module that defines its class and, transitively, every module that
module imports from the packages the system is built from.

Those packages are the top-level packages of the class and of its ``System`` bases (``harness`` and ``systems`` for
the project's families, ``harness`` and the plugin's package for a system from elsewhere), and every top-level module
or package beside one of them in a folder that is not an installation folder (site-packages, the standard library):
a plugin written as loose modules in a project folder on the path covers its sibling modules too. Imports are read
from the source (``ast``) wherever they are written, inside functions too, so a helper imported lazily counts.
Standard library and installed third-party modules are left out (a system names the versions that matter in
``content_digests``).

``from P import name`` counts ``P.name`` when that is a module and ``P`` otherwise, so a family that imports a
sibling module (``from systems import dense_encoder``) does not depend on the package's ``__init__`` (the list of
kinds). Modules are keyed by name, not path, so a checkout elsewhere gives the same digest.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import sys
import sysconfig
from pathlib import Path

from harness.core.hashing import digest_file_once, digest_value


def code_digest(cls: type) -> str:
    """Digest of the code a system class runs (``code_modules``), so editing any of it invalidates cached runs."""
    return digest_value({name: digest_file_once(path) for name, path in code_modules(cls).items()})


def code_modules(cls: type) -> dict[str, Path]:
    """Module name → source file over the import closure of the module defining ``cls``, sorted by name."""
    from harness.system.contract import System  # contract imports this module

    own = _OwnCode({base.__module__.partition(".")[0] for base in cls.__mro__ if issubclass(base, System)})
    start = cls.__module__
    found = {start: Path(inspect.getsourcefile(cls) or inspect.getfile(cls))}
    frontier = [start]
    while frontier:
        name = frontier.pop()
        for base, names in _imports(name, found[name]):
            if not own.covers(base.partition(".")[0]):
                continue  # checked before resolving: finding a module imports its parent packages
            for imported, path in _named_modules(base, names).items():
                if imported not in found:
                    found[imported] = path
                    frontier.append(imported)
    return dict(sorted(found.items()))


class _OwnCode:
    """Which top-level names are the system's own code (see the module docstring), decided once per name."""

    def __init__(self, roots: set[str]):
        self.decided = dict.fromkeys(roots, True)
        self.folders = {f for f in map(_folder_of, roots) if f is not None and not _installed(f)}

    def covers(self, top: str) -> bool:
        if top not in self.decided:
            self.decided[top] = bool(self.folders) and _folder_of(top) in self.folders
        return self.decided[top]


def _folder_of(top: str) -> Path | None:
    """The folder on the path that holds a top-level module or package (found without importing it)."""
    path = _module_file(top)
    if path is None:
        return None
    return path.parent.parent if path.name == "__init__.py" else path.parent


def _installed(folder: Path) -> bool:
    """Whether a folder holds installed code (third-party or standard library) rather than a project's own."""
    stdlib = {Path(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib")}
    return folder.name in ("site-packages", "dist-packages", "lib-dynload") or folder in stdlib


def _named_modules(base: str, names: tuple[str, ...]) -> dict[str, Path]:
    """The modules an import statement names (name → file): ``P.name`` where that is a module, else ``P``."""
    out: dict[str, Path] = {}
    for name in names:
        path = _module_file(f"{base}.{name}") if name != "*" else None
        if path is not None:
            out[f"{base}.{name}"] = path
    if not names or len(out) < len(names):  # `import P`, or a name that is an attribute of P
        path = _module_file(base)
        if path is not None:
            out[base] = path
    return out


def _imports(module: str, path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(module, names) of each import statement in ``module`` (source ``path``): ``import P`` is (P, ()),
    ``from P import a, b`` is (P, (a, b)), relative imports made absolute."""
    if path.suffix != ".py":
        return []  # a compiled extension: digested, not read
    stat = path.stat()
    return _parsed_imports(module, str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _parsed_imports(module: str, path: str, mtime_ns: int, size: int) -> list[tuple[str, tuple[str, ...]]]:
    """Parsed once per file version (the stat fields are part of the cache key, so an edited file is read again)."""
    package = module if Path(path).name == "__init__.py" else module.rpartition(".")[0]
    statements: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(ast.parse(Path(path).read_bytes(), path)):
        if isinstance(node, ast.Import):
            statements.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            statements.append((_absolute(node.module, node.level, package), names))
    return statements


def _absolute(module: str | None, level: int, package: str) -> str:
    """The absolute name of ``from <dots><module> import ...`` written in ``package``."""
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - level + 1])
    return f"{base}.{module}" if module else base


def _module_file(name: str) -> Path | None:
    """The file a module is loaded from, or None if ``name`` is not a module (e.g. a class imported by name)."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None) if module is not None else None
    if spec is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):  # a parent is a module, not a package; or a broken parent package
            return None
    if spec is None or not spec.has_location or spec.origin is None:
        return None  # namespace package, built-in or frozen module
    return Path(spec.origin)
