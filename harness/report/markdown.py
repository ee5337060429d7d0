"""The Markdown summary for CI logs and regression jobs: the results tables with their marks and warnings."""

from __future__ import annotations

from harness.report.context import ReportContext
from harness.report.tables import Cell
from harness.report.templates import MD, environment, md


def md_cell(cell: Cell) -> MD:
    text = md(cell.text)
    if cell.best:
        text = f"**{text}**"
    elif cell.second:
        text = f"<ins>{text}</ins>"  # GitHub renders <ins> underlined (it strips <u>)
    text += {"up": "▲", "down": "▼"}.get(cell.marker or "", "") + ("†" if cell.depth_limited else "")
    if cell.significant_on:  # a mean over datasets: on how many the system is significantly better / worse
        text += f" ▲{cell.significant_on[0]} ▼{cell.significant_on[1]}"
    return MD(text)


def render_markdown(ctx: ReportContext) -> str:
    env = environment("md")
    env.filters.update(cell=md_cell)
    return env.get_template("report.md.j2").render(ctx=ctx)
