"""The HTML report: one self-contained file (styles and the sorting script inline, plots as data: URIs)."""

from __future__ import annotations

from harness.report.context import ReportContext
from harness.report.templates import environment


def render_html(ctx: ReportContext) -> str:
    return environment("html").get_template("report.html.j2").render(ctx=ctx)
