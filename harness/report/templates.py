"""Jinja2 environments for the report templates in ``reports/templates`` (committed beside the reports).

Every value a template prints is escaped for the output format in one place, the environment's output step: HTML by
Jinja's autoescape, LaTeX by ``tex`` and Markdown by ``md`` (the ``finalize`` hook). Filters that produce markup
(a formatted cell, a file path, a label) return ``TeX`` / ``MD`` strings, which are printed as they are.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from harness.core.errors import HarnessError

TEMPLATES = Path(__file__).resolve().parents[2] / "reports" / "templates"
LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "|": "$|$", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    "·": r"$\cdot$", "–": "--", "—": "---", "Δ": r"$\Delta$", "α": r"$\alpha$", "≤": r"$\leq$", "≥": r"$\geq$",
    "×": r"$\times$", "−": "$-$", "†": r"\textsuperscript{\dag}", "▲": r"$^{\blacktriangle}$",
    "▼": r"$^{\blacktriangledown}$", "…": r"\ldots{}",
}  # fmt: skip
# CommonMark: a backslash makes any ASCII punctuation literal; HTML (which GitHub renders) becomes entities.
# "_" is left alone: GitHub does not emphasise inside words (System_One), and a stray "_x_" is only italics.
MD_SPECIAL = {
    "\\": "\\\\", "`": "\\`", "*": "\\*", "[": "\\[", "]": "\\]", "|": "\\|", "<": "&lt;", ">": "&gt;", "&": "&amp;",
}  # fmt: skip
CONTROL = {c: " " for c in [*range(32), 127]}
SAFE_PATH = re.compile(r"[A-Za-z0-9_.\-/]+")


class TeX(str):
    """LaTeX source, printed as it is."""


class MD(str):
    """Markdown source, printed as it is."""


def _one_line(value: Any) -> str:
    # every line break or control character (which would end a LaTeX % comment or a Markdown table row) → a space
    return " ".join(str(value).split()).translate(CONTROL)


def tex(value: Any) -> TeX:
    """Plain text → LaTeX source on one line: special characters escaped, a few Unicode signs mapped to macros; other
    text is left as UTF-8, which pdflatex reads by default."""
    if isinstance(value, TeX):
        return value
    return TeX("".join(LATEX_SPECIAL.get(ch, ch) for ch in _one_line(value)))


def md(value: Any) -> MD:
    """Plain text → Markdown on one line: no raw HTML, no table-cell break, no code span, link or emphasis."""
    if isinstance(value, MD):
        return value
    return MD("".join(MD_SPECIAL.get(ch, ch) for ch in _one_line(value)))


def tex_label(value: Any) -> TeX:
    """A ``\\label{}`` key: lower-case letters, digits and hyphens only."""
    return TeX(re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-") or "x")


def tex_path(path: str) -> TeX:
    """A relative file name for ``\\input`` / ``\\includegraphics`` (written by us from slugs, so never escaped)."""
    if not SAFE_PATH.fullmatch(path) or ".." in path:
        raise HarnessError(f"unsafe file name for LaTeX: {path!r}")
    return TeX(path)


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


ESCAPE: dict[str, Callable[[Any], str]] = {"latex": tex, "md": md}


def environment(kind: str) -> jinja2.Environment:
    """``html`` (autoescaped), ``latex`` (``((* *))`` blocks, ``((( )))`` expressions: braces stay LaTeX's; printed
    values escaped by ``tex``), ``md`` (printed values escaped by ``md``)."""
    if not TEMPLATES.is_dir():
        raise HarnessError(f"report templates not found at {TEMPLATES}")
    options: dict[str, Any] = {"loader": jinja2.FileSystemLoader(TEMPLATES), "undefined": jinja2.StrictUndefined}
    options |= {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": True}
    if kind == "html":
        options["autoescape"] = True
    else:
        options["finalize"] = ESCAPE[kind]
    if kind == "latex":
        options |= {
            "block_start_string": "((*", "block_end_string": "*))",
            "variable_start_string": "(((", "variable_end_string": ")))",
            "comment_start_string": "((=", "comment_end_string": "=))",
        }  # fmt: skip
    env = jinja2.Environment(**options)
    env.filters.update(num=num, signed=signed, pval=pval, data_uri=data_uri)
    if kind == "latex":
        env.filters.update(label=tex_label)
    return env
