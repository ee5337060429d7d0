"""The Markdown summary for CI logs and regression jobs: the results tables with their marks and warnings."""

from __future__ import annotations

from harness.report.context import Cell, ReportContext
from harness.report.templates import environment


def md_cell(cell: Cell) -> str:
    text = cell.text
    if cell.best:
        text = f"**{text}**"
    elif cell.second:
        text = f"<ins>{text}</ins>"  # GitHub renders <ins> underlined (it strips <u>)
    return text + {"up": "▲", "down": "▼"}.get(cell.marker or "", "") + ("†" if cell.depth_limited else "")


def md_text(text: object) -> str:
    """A table cell: pipes escaped, no line breaks."""
    return " ".join(str(text).split()).replace("|", "\\|")


def render_markdown(ctx: ReportContext) -> str:
    env = environment("md")
    env.filters.update(cell=md_cell, md=md_text)
    return env.get_template("report.md.j2").render(ctx=ctx)
