"""Where a report goes and writing it in one of the three formats."""

from __future__ import annotations

from pathlib import Path

from harness.report.context import ReportContext
from harness.report.files import check_file, check_folder, write_file
from harness.report.html import render_html
from harness.report.markdown import render_markdown

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
        from harness.report.latex import write_latex  # draws its figures (matplotlib, scipy): loaded for LaTeX only

        return write_latex(ctx, out)
    write_file(out, render_html(ctx) if fmt == "html" else render_markdown(ctx))
    return out
