"""Reports rendered from the stored results only (never by running a system): HTML (one self-contained file),
LaTeX (booktabs tables, PDF figures, a standalone wrapper) and Markdown (for CI logs).

    ctx = gather(suite, store)          # harness.report.context: one plain object the three renderers share
    render_html(ctx) / render_markdown(ctx) -> str;  write_latex(ctx, out_dir) -> report.tex
"""

from __future__ import annotations

from pathlib import Path

from harness.report.context import ReportContext, build_context, gather
from harness.report.files import check_file, check_folder, write_file
from harness.report.html import render_html
from harness.report.latex import write_latex
from harness.report.markdown import render_markdown
from harness.report.tables import build_table

FORMATS = ("html", "latex", "md")


def default_out(suite_name: str, fmt: str) -> Path:
    """reports/<suite>/report.html, reports/<suite>/report.md, reports/<suite>/latex/ (a folder)."""
    base = Path("reports") / suite_name
    return base / "latex" if fmt == "latex" else base / f"report.{fmt}"


def check_out(fmt: str, out: Path) -> None:
    """``out`` can take the report: a regular file or a new path (html, md), a folder or a new path (latex)."""
    (check_folder if fmt == "latex" else check_file)(out)


def write_report(ctx: ReportContext, fmt: str, out: Path) -> Path:
    """Write one format; returns the file written (for LaTeX the wrapper inside the folder ``out``)."""
    if fmt == "latex":
        return write_latex(ctx, out)
    write_file(out, render_html(ctx) if fmt == "html" else render_markdown(ctx))
    return out


__all__ = [
    "FORMATS",
    "ReportContext",
    "build_context",
    "build_table",
    "check_out",
    "default_out",
    "gather",
    "render_html",
    "render_markdown",
    "write_latex",
    "write_report",
]
