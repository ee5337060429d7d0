"""The LaTeX export: one booktabs table per dataset (and per suite mean) in ``tables/``, ready to paste into a paper
(best bold, second underlined, significance superscripts with a legend); the plots as PDF in ``figures/``; and
``report.tex``, a standalone wrapper that compiles with pdflatex (title page, then one page per dataset).

Tables need ``\\usepackage{booktabs,amssymb}``; figures ``\\usepackage{graphicx}``.
"""

from __future__ import annotations

from pathlib import Path

from harness.analysis import plots
from harness.report.context import Plot, ReportContext, StoredComparison
from harness.report.files import check_file, check_folder, write_file
from harness.report.stored_comparison import read_comparison, save_figure
from harness.report.tables import Cell
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
    text += f"$^{{{marks}}}$" if marks else ""
    if cell.significant_on:  # a mean over datasets: on how many the system is significantly better / worse
        better, worse, _n = cell.significant_on
        text += rf"\,{{\scriptsize ({better}$\blacktriangle$\,{worse}$\blacktriangledown$)}}"
    return TeX(text)


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


def pdf_figures(comparison: StoredComparison, out_dir: Path) -> dict[str, list[tuple[Plot, Path]]]:
    """The stored comparison's plots drawn again from its stored tables, as PDF (dataset → [(Plot, path)]): the same
    plot specs (harness.analysis.plots.plot_specs) as the stored PNG/SVG."""
    cmp = read_comparison(comparison.directory)
    shown = {(p.kind, p.dataset, p.metric, p.baseline): p for p in comparison.plots()}
    out: dict[str, list[tuple[Plot, Path]]] = {}
    for spec in plots.plot_specs(cmp):
        p = shown.get((spec.kind, spec.dataset, spec.metric, spec.baseline))
        if p is None:
            continue
        check_file(out_dir / f"{spec.name}.pdf")
        fig = plots.figure(spec, cmp.labels, cmp.settings["tie_tolerance"])
        (path,) = save_figure(fig, out_dir / spec.name, ("pdf",))
        out.setdefault(spec.dataset, []).append((p, path))
    return out


__all__ = ["pdf_figures", "tex", "tex_cell", "write_latex"]
