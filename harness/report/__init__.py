"""Reports rendered from the stored results only (never by running a system): HTML (one self-contained file),
LaTeX (booktabs tables, PDF figures, a standalone wrapper) and Markdown (for CI logs).

    ctx = context.gather(suite, store)   # one plain object the three renderers share
    html.render_html(ctx) / markdown.render_markdown(ctx) -> str;  latex.write_latex(ctx, out_dir) -> report.tex
    render.write_report(ctx, fmt, out)   # one of the three, to a checked path

The package imports nothing itself: `irh show` prints through report.terminal without loading the renderers.
"""
