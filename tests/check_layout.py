"""Layout checks that import-linter does not make (run by `nox -s lint`): no module over MAX_LINES lines, and no
private name (``_x``) imported from another package. Exit status 1 lists every offender."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_LINES = 400
ROOTS = ("harness", "systems")


def package_of(module: str) -> str:
    """The package a module belongs to, for the private-name rule: `harness.store.runs` -> `harness.store`."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "harness" else parts[0]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def offenders(root: Path) -> list[str]:
    found = []
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            text = path.read_text()
            lines = text.count("\n")
            if lines > MAX_LINES:
                found.append(f"{path.relative_to(root)}: {lines} lines (more than {MAX_LINES})")
            here = package_of(module_name(path, root))
            for node in ast.walk(ast.parse(text)):
                if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                    continue
                if node.module.split(".")[0] not in ROOTS or package_of(node.module) == here:
                    continue
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        where = f"{path.relative_to(root)}:{node.lineno}"
                        found.append(f"{where}: imports private {node.module}.{alias.name}")
    return found


if __name__ == "__main__":
    problems = offenders(Path(__file__).resolve().parents[1])
    print("\n".join(problems) or "layout OK")
    sys.exit(1 if problems else 0)
