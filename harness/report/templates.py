"""Jinja2 environments for the report templates in ``reports/templates`` (committed beside the reports)."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import jinja2

from harness.errors import HarnessError

TEMPLATES = Path(__file__).resolve().parents[2] / "reports" / "templates"
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "|": "$|$", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    "·": r"$\cdot$", "–": "--", "—": "---", "Δ": r"$\Delta$", "α": r"$\alpha$", "≤": r"$\leq$", "≥": r"$\geq$",
    "×": r"$\times$", "−": "$-$", "†": r"\textsuperscript{\dag}", "▲": r"$^{\blacktriangle}$",
    "▼": r"$^{\blacktriangledown}$", "…": r"\ldots{}",
}  # fmt: skip


def tex(value: Any) -> str:
    """Plain text → LaTeX source: special characters escaped, a few Unicode signs mapped to macros; other text is
    left as UTF-8, which pdflatex reads by default."""
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(value))


def num(value: float | None, digits: int = 4) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:+.{digits}f}"


def pval(value: float | None) -> str:
    if value is None:
        return "–"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def data_uri(path: Path | None, mime: str = "image/png") -> str:
    """The file's bytes as a data: URI, so the HTML report needs no other file and fetches nothing."""
    if path is None or not Path(path).exists():
        raise HarnessError(f"plot file not found: {path} (run `irh compare` again)")
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def environment(kind: str) -> jinja2.Environment:
    """``html`` (autoescaped), ``latex`` (``((* *))`` blocks, ``((( )))`` expressions: braces stay LaTeX's), ``md``."""
    if not TEMPLATES.is_dir():
        raise HarnessError(f"report templates not found at {TEMPLATES}")
    options: dict[str, Any] = {"loader": jinja2.FileSystemLoader(TEMPLATES), "undefined": jinja2.StrictUndefined}
    options |= {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": True}
    if kind == "html":
        options["autoescape"] = True
    elif kind == "latex":
        options |= {
            "block_start_string": "((*", "block_end_string": "*))",
            "variable_start_string": "(((", "variable_end_string": ")))",
            "comment_start_string": "((=", "comment_end_string": "=))",
        }  # fmt: skip
    env = jinja2.Environment(**options)
    env.filters.update(tex=tex, num=num, signed=signed, pval=pval, data_uri=data_uri)
    return env
