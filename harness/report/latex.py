"""The LaTeX export: one booktabs table per dataset (and per suite mean) in ``tables/``, ready to paste into a paper
(best bold, second underlined, significance superscripts with a legend); the plots as PDF in ``figures/``; and
``report.tex``, a standalone wrapper that compiles with pdflatex (title page, then one page per dataset).

Tables need ``\\usepackage{booktabs,amssymb}``; figures ``\\usepackage{graphicx}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from harness.report.context import Cell, Comparison, ReportContext
from harness.report.files import check_file, check_folder, write_file
from harness.report.templates import TeX, environment, tex, tex_path


def tex_cell(cell: Cell) -> TeX:
    text = tex(cell.text) if cell.value is not None else "--"
    if cell.best:
        text = rf"\textbf{{{text}}}"
    elif cell.second:
        text = rf"\underline{{{text}}}"
    marks = {"up": r"\blacktriangle", "down": r"\blacktriangledown"}.get(cell.marker or "", "")
    if cell.depth_limited:
        marks += r"\dagger"
    return TeX(text + (f"$^{{{marks}}}$" if marks else ""))


def write_latex(ctx: ReportContext, out_dir: Path) -> Path:
    """Write tables/*.tex, figures/*.pdf and report.tex under ``out_dir``; returns the wrapper's path."""
    out_dir = Path(out_dir)
    check_folder(out_dir)
    env = environment("latex")
    env.filters["cell"] = tex_cell
    table_tpl = env.get_template("table.tex.j2")
    tables = {}
    for t in ctx.tables:
        dataset = next((d for d in ctx.datasets if t in d.tables), None)
        path = out_dir / "tables" / f"{t.key}.tex"
        write_file(path, table_tpl.render(ctx=ctx, t=t, dataset=dataset))
        tables[t.key] = tex_path(path.relative_to(out_dir).as_posix())
    figures = pdf_figures(ctx.comparison, out_dir / "figures") if ctx.comparison is not None else {}
    wrapper = out_dir / "report.tex"
    text = env.get_template("report.tex.j2").render(
        ctx=ctx,
        tables=tables,
        figures={k: [(p, tex_path(Path(f).relative_to(out_dir).as_posix())) for p, f in v] for k, v in figures.items()},
    )
    write_file(wrapper, text)
    return wrapper


@contextlib.contextmanager
def _pdf_only() -> Iterator[None]:
    """harness.analysis.plots saves the formats in its FORMATS; for LaTeX we want PDF (vector) only."""
    from harness.analysis import plots

    saved = plots.FORMATS
    plots.FORMATS = ("pdf",)
    try:
        yield
    finally:
        plots.FORMATS = saved


def pdf_figures(comparison: Comparison, out_dir: Path) -> dict[str, list[tuple[Any, Path]]]:
    """The stored comparison's plots drawn again, as PDF, from its stored tables (dataset → [(Plot, path)])."""
    from harness.analysis import plots
    from harness.core.slugs import slug

    cdir = comparison.directory
    s = comparison.summary
    labels, suite, tol = s["labels"], s["suite"], s["settings"]["tie_tolerance"]
    tables: dict[str, pd.DataFrame] = {}

    def table(name: str) -> pd.DataFrame:
        if name not in tables:
            tables[name] = pd.read_parquet(cdir / f"{name}.parquet")
        return tables[name]

    def stem(name: str) -> Path:
        check_file(out_dir / f"{name}.pdf")
        return out_dir / name

    out: dict[str, list[tuple[Any, Path]]] = {}
    with _pdf_only():
        for p in comparison.plots():
            ds, m, base = p.dataset, p.metric, p.baseline
            blabel = labels.get(base, base)
            if p.kind == "deltas":
                d = table("per_query_deltas")
                d = d[(d["dataset"] == ds) & (d["baseline"] == base) & (d["metric"] == m)]
                title = f"{suite} · {ds} · {m}: per-query Δ vs {blabel}"
                paths = plots.delta_bars(d, labels, tol, title, stem(f"{slug(ds)}__{slug(m)}__deltas_vs_{slug(base)}"))
            elif p.kind == "buckets":
                b = table("buckets")
                b = b[(b["dataset"] == ds) & (b["baseline"] == base) & (b["metric"] == m)]
                title = f"{suite} · {ds} · {m}: win rates vs {blabel} by query-feature bucket"
                paths = plots.bucket_win_rates(
                    b, labels, title, stem(f"{slug(ds)}__{slug(m)}__win_rate_by_bucket_vs_{slug(base)}")
                )
            elif p.kind == "cost":
                c = table("cost")
                c = c[c["dataset"] == ds].rename(columns={m: "value"})
                paths = plots.cost_scatter(
                    c, m, f"{suite} · {ds}: {m} vs query time", stem(f"{slug(ds)}__{slug(m)}__cost")
                )
            else:
                continue
            out.setdefault(ds, []).append((p, paths[0]))
    return out


__all__ = ["pdf_figures", "tex", "tex_cell", "write_latex"]
