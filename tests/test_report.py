"""``irh report`` on the real SciFact and Cranfield collections: the HTML report opened in headless Chromium at
1,400 px (the answer first, the page no wider than the window, tables and images present, nothing fetched from the
network, a screenshot saved), the LaTeX wrapper compiled with pdflatex (page and table count, figures at a readable
size), the Markdown summary.

The suite is suites/beir-local.toml cut down to keep the test fast: SciFact and Cranfield (so there is a mean over
datasets), its BM25 system (the baseline), and two cheap systems so there is a comparison: BM25 with Lucene's default
parameters cut at depth 100 (so R@1000 is depth-limited and the report must warn) and the RRF fusion of the two (no
model, no new index).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.results import read_results
from tests.conftest import SUITES, write_suite
from tests.test_report_tables import _tool, compile_latex, pdf_pages

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WINDOW = (1400, 2400)


def _toml(value) -> str:
    return json.dumps(value)  # strings, numbers, booleans and lists of them read the same in TOML


def derived_suite(tmp: Path) -> Path:
    src = SUITES / "beir-local.toml"
    data = tomllib.loads(src.read_text())
    lines = [f"{k} = {_toml(data[k])}" for k in ("name", "metrics", "baseline")]
    lines += [f"description = {_toml(data['description'] + ' + Cranfield, cut down for the test')}"]
    lines += ["[datasets.scifact]", *(f"{k} = {_toml(v)}" for k, v in data["datasets"]["scifact"].items())]
    lines += ["[datasets.cranfield]", 'id = "cranfield"']
    lines += ["[systems.bm25]", *(f"{k} = {_toml(v)}" for k, v in data["systems"]["bm25"].items())]
    lines += ["[systems.bm25-top100]", 'kind = "bm25"', 'label = "BM25 k1=1.2 b=0.75 (top 100)"']
    lines += ["k1 = 1.2", "b = 0.75", "k = 100"]
    lines += [
        "[systems.rrf]",
        'kind = "rrf"',
        'label = "RRF (BM25 + BM25 top 100)"',
        'inputs = ["bm25", "bm25-top100"]',
    ]
    lines += ["[significance]", *(f"{k} = {_toml(v)}" for k, v in data["significance"].items())]
    return write_suite(tmp / "beir-local.toml", "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def chromium() -> str:
    return _tool("chromium")


@pytest.fixture(scope="module")
def pdflatex() -> str:
    _tool("pdfinfo")
    _tool("pdftotext")
    return _tool("pdflatex")


@pytest.fixture(scope="module")
def beir_store(irds_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("beir_report")
    suite = derived_suite(tmp)
    assert main(["-q", "--results", str(tmp / "results"), "run", str(suite)]) == 0
    return suite, tmp / "results"


class _Dom(HTMLParser):
    """What the test looks at in the DOM Chromium dumped: tables (with their body rows' cells), images, URLs."""

    def __init__(self):
        super().__init__()
        self.tables: list[dict] = []
        self.images: list[dict] = []
        self.body: dict = {}
        self.urls: list[str] = []
        self.rows: dict[str, list[list[tuple[str | None, str]]]] = {}  # table id → body rows → (data-v, text)
        self._table: str | None = None
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href", "action", "poster", "data") and v]
        if tag == "table":
            self.tables.append(a)
            self._table = a.get("id")
        elif tag == "tr" and self._table:
            self.rows.setdefault(self._table, []).append([])
        elif tag in ("td", "th") and self._table:
            self._cell = [a.get("data-v"), ""]
        elif tag == "img":
            self.images.append(a)
        elif tag == "body":
            self.body = a

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table:
            self.rows[self._table][-1].append((self._cell[0], self._cell[1].strip()))
            self._cell = None


def page_requests(netlog: Path) -> list[str]:
    """URLs the page asked the network for: URL requests in Chromium's net log that a document initiated (they carry
    the page's file:// network-isolation key or a real initiator), other than file: and data: URLs. Chromium's own
    background requests (initiator "not an origin") are not the page's."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    out = []
    for e in log["events"]:
        p = e.get("params") or {}
        if e["type"] != start or "url" not in p or p["url"].startswith(("file:", "data:")):
            continue
        if "file://" in p.get("network_isolation_key", "") or p.get("initiator") not in (None, "not an origin"):
            out.append(p["url"])
    return out


def open_in_chromium(
    chromium: str, page: Path, tmp: Path, screenshot: Path, fragment: str = ""
) -> tuple[_Dom, str, list[str]]:
    """Load ``page`` once in headless Chromium with a fresh profile: the DOM after load, a screenshot, and the URLs
    the page requested from the network."""
    netlog = tmp / "netlog.json"
    profile = tmp / "profile"
    profile.mkdir()
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--log-net-log={netlog}", "--dump-dom"]
    cmd += [f"--screenshot={screenshot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", page.resolve().as_uri() + fragment]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)  # generous: a loaded machine
    assert proc.returncode == 0, proc.stderr[-3000:]
    dom = _Dom()
    dom.feed(proc.stdout)
    return dom, proc.stdout, page_requests(netlog)


def test_net_log_check_sees_a_page_fetch(chromium: str, tmp_path: Path) -> None:
    """The network check itself: a page with an external image and stylesheet is caught (nothing answers: the
    hosts are .invalid)."""
    page = tmp_path / "external.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="stylesheet" href="https://styles.example.invalid/a.css"></head>'
        '<body><img src="http://images.example.invalid/x.png"></body></html>'
    )
    _dom, _text, fetched = open_in_chromium(chromium, page, tmp_path, tmp_path / "shot.png")
    assert sorted(fetched) == ["http://images.example.invalid/x.png", "https://styles.example.invalid/a.css"]


def test_html_report_in_headless_chromium(chromium: str, beir_store: tuple[Path, Path], tmp_path: Path) -> None:
    suite_path, root = beir_store
    out = tmp_path / "report.html"
    assert main(["-q", "--results", str(root), "report", str(suite_path), "--format", "html", "--out", str(out)]) == 0
    html = out.read_text()
    # self-contained: no external URL in any attribute or stylesheet
    assert not re.search(r"""(?:src|href|action|poster)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "url(" not in html and "@import" not in html
    suite = load_suite(suite_path)
    scifact_queries = suite.dataset("scifact").queries()
    # small: every query text is in the file once (not once per drill-down table), the plots are compact
    assert all(html.count(text) == 1 for text in list(scifact_queries.values())[:20])
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 6 and max(len(i) for i in images) < 250_000

    # opened sorted by the Δ of BM25 top 100 on nDCG@10 (column 3 of the drill-down), ascending
    screenshot = tmp_path / "report.png"
    sort = "#sort=q-scifact-bm25-ndcg-10,3,asc"
    dom, dumped, fetched = open_in_chromium(chromium, out, tmp_path, screenshot, sort)
    assert fetched == []
    assert not [u for u in dom.urls if not u.startswith(("data:image/png;base64,", "#"))]
    # the answer first: the means over datasets, then one row per dataset, both on the first screen; then details
    tops = json.loads(dom.body["data-sections"])
    assert list(tops) == ["headline", "overview", "ds-scifact", "ds-cranfield", "provenance"]
    assert list(tops.values()) == sorted(tops.values()) and tops["overview"] < WINDOW[1] / 2
    # the page is as wide as the window: no horizontal scroll, no table or figure wider than its place
    width = int(dom.body["data-viewport-width"])  # the window's width less the vertical scroll bar's
    assert int(dom.body["data-window-width"]) == WINDOW[0] and WINDOW[0] - 20 <= width <= WINDOW[0]
    assert int(dom.body["data-page-width"]) == width and dom.body["data-overflowing"] == ""
    # tables: the means, the per-dataset row, per dataset its results and comparison table and one drill-down per
    # metric, the systems and provenance tables
    ids = [t.get("id") for t in dom.tables]
    drilldowns = [f"q-{d}-bm25-{m.lower().replace('@', '-')}" for d in ("scifact", "cranfield") for m in suite.metrics]
    assert ids.index("table-suite-mean") < ids.index("table-overview") < ids.index("table-scifact")
    assert "cmp-scifact" in ids and "cmp-cranfield" in ids and "configs" in ids
    assert [i for i in ids if i and i.startswith("q-")] == drilldowns
    labels = ["bm25 baseline", "BM25 k1=1.2 b=0.75 (top 100)", "RRF (BM25 + BM25 top 100)"]
    results_rows = [[text for _v, text in row] for row in dom.rows["table-scifact"]]
    assert [r[0] for r in results_rows] == ["System", *labels]
    assert len(dom.rows["cmp-scifact"]) == 1 + 2 * len(suite.metrics)
    assert all(len(dom.rows[q]) == 1 + 300 for q in drilldowns if "scifact" in q)
    # the systems as a table: one row each, the parameters readable
    configs = {row[0][1]: row for row in dom.rows["configs"][1:]}
    assert list(configs) == ["bm25", *labels[1:]]
    assert configs["BM25 k1=1.2 b=0.75 (top 100)"][1][1] == "bm25" and "k = 100" in configs[labels[1]][3][1]
    assert "inputs = bm25, bm25-top100" in configs[labels[2]][3][1]
    # images: the plots, inlined, decoded by the browser
    assert len(dom.images) == 6 and all(i["src"].startswith("data:image/png;base64,") for i in dom.images)
    assert dom.body.get("data-images-loaded") == "6"
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    assert (int.from_bytes(png[16:20]), int.from_bytes(png[20:24])) == WINDOW

    # the numbers, recounted from the stored per-query evaluations
    results = read_results(suite, Store(root))
    pq = results.per_query.query("metric == 'nDCG@10' and dataset == 'scifact'")
    pq = pq.pivot(index="query_id", columns="system", values="value")
    d = pq["bm25-top100"] - pq["bm25"]
    wtl = f"{(d > 0).sum()}/{(d == 0).sum()}/{(d < 0).sum()}"
    assert results_rows[2][5] == wtl and results_rows[1][5] == "–"  # W/T/L vs BM25 on nDCG@10
    assert results_rows[2][1] == f"{pq['bm25-top100'].mean():.4f}"
    overview = {row[0][1]: [text for _v, text in row[1:]] for row in dom.rows["table-overview"][1:]}
    assert list(overview) == ["scifact", "cranfield"] and overview["scifact"][1] == results_rows[2][1]
    rows = dom.rows["q-scifact-bm25-ndcg-10"][1:]
    shown = [float(cells[3][0]) for cells in rows]
    assert shown == sorted(shown) and shown == pytest.approx(sorted(d.to_numpy()), abs=1.5e-4)  # the sort ran
    assert {cells[0][1] for cells in rows} == set(d.index)
    worst = next(cells for cells in rows if cells[0][1] == d.idxmin())
    text = " ".join(scifact_queries[d.idxmin()].split())
    assert worst[1][1] == (text if len(text) <= 160 else text[:159].rstrip() + "…")  # the query text
    assert worst[3][1] == f"{pq.loc[d.idxmin(), 'bm25-top100']:.4f}{d.min():+.4f}"  # its value, then its Δ
    assert "paired t-test" in dumped and "Holm correction over all" in dumped  # the footnote names test and correction
    assert "R@1000 of BM25 k1=1.2 b=0.75 (top 100): the run holds at most 100 documents" in dumped
    assert suite.digest in dumped and "Systems and provenance" in dumped


def test_layout_check_sees_a_wide_table(chromium: str, beir_store: tuple[Path, Path], tmp_path: Path) -> None:
    """The width check itself: a table wider than the page is caught (the page scrolls sideways and the table is
    named)."""
    suite_path, root = beir_store
    out = tmp_path / "report.html"
    assert main(["-q", "--results", str(root), "report", str(suite_path), "--format", "html", "--out", str(out)]) == 0
    wide = '<table id="too-wide"><tr>' + "<td>0.1234</td>" * 300 + "</tr></table></main>"
    out.write_text(out.read_text().replace("</main>", wide))
    dom, _dumped, _fetched = open_in_chromium(chromium, out, tmp_path, tmp_path / "shot.png")
    assert int(dom.body["data-page-width"]) > int(dom.body["data-viewport-width"])
    assert "too-wide" in dom.body["data-overflowing"].split()


def test_latex_report_compiles(pdflatex: str, beir_store: tuple[Path, Path], tmp_path: Path) -> None:
    suite_path, root = beir_store
    out = tmp_path / "latex"
    assert main(["-q", "--results", str(root), "report", str(suite_path), "--format", "latex", "--out", str(out)]) == 0
    table = (out / "tables" / "scifact.tex").read_text()
    assert table.count(r"\\") == 1 + 3 and r"\bottomrule" in table and r"R@1000" in table
    # the top-100 run's R@1000: depth-limited, so not tested (n/c) and never marked significant
    assert r"$^{\dagger}$" in table and r"$^{\blacktriangledown\dagger}$" not in table
    figures = sorted(out.glob("figures/*.pdf"))
    assert len(figures) == 6  # per dataset: per-query deltas, win rates by bucket, cost
    # readable: each figure is drawn at most the text width wide (17 cm) and included at that width, so its 6.5-9 pt
    # text is printed at 95 % of its size or more (it was shrunk to a quarter page, ~40 %)
    for f in figures:
        info = subprocess.run(["pdfinfo", str(f)], capture_output=True, text=True, check=True).stdout
        width = float(re.search(r"Page size:\s+([\d.]+) x", info).group(1))
        assert 0.5 * 17 / 2.54 * 72 < width <= 17 / 2.54 * 72 / 0.95
    wrapper = (out / "report.tex").read_text()
    assert wrapper.count(r"\includegraphics[width=\linewidth,height=0.8\textheight,keepaspectratio]") == 6
    pdf, tables = compile_latex(out / "report.tex")
    assert tables == 3  # two datasets and the mean over datasets
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Table 3:" in text and "Figure 6:" in text and "RRF (BM25 + BM25 top 100)" in text
    assert pdf_pages(pdf) >= 1 + 2 + 6 // 2  # title and means, a page of tables per dataset, two figures a page


def test_markdown_summary(beir_store: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    suite_path, root = beir_store
    capsys.readouterr()
    assert main(["-q", "--results", str(root), "report", str(suite_path), "--format", "md", "--out", "-"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# beir-local")
    heads = ["## Means over datasets", "## Per dataset: nDCG@10", "## scifact", "## cranfield"]
    assert [md.index(h) for h in heads] == sorted(md.index(h) for h in heads)  # the answer first
    scifact = md[md.index("## scifact") : md.index("## cranfield")]
    rows = [ln for ln in scifact.splitlines() if ln.startswith("| ")]
    assert rows[0].startswith("| System | nDCG@10 | R@100 | R@1000 | RR@10 | W/T/L nDCG@10 |")
    assert rows[1].startswith("| bm25 (baseline) |")
    top100 = next(r for r in rows if r.startswith("| BM25 k1=1.2 b=0.75 (top 100) |")).split(" | ")
    # R@1000 of the top-100 run, recomputed from the stored evaluations and the stored comparison: second best,
    # below BM25, depth-limited, so not tested (n/c)
    suite = load_suite(suite_path)
    means = read_results(suite, Store(root)).means().query("metric == 'R@1000' and dataset == 'scifact'")
    means = means.set_index("system")["value"].round(4)
    assert means["bm25-top100"] == sorted(set(means), reverse=True)[1]
    cmp = pd.read_parquet(root / "compare" / suite.name / "comparisons.parquet")
    cmp = cmp.query("measure == 'R@1000' and dataset == 'scifact'")
    row = cmp.set_index("system").loc["bm25-top100"]
    assert not row["comparable"] and not row["significant"] and row["delta"] < 0 and row["depth_limited"]
    assert top100[3] == f"<ins>{means['bm25-top100']:.4f}</ins>†"
    # the comparison with the baseline: Δ, CI, p adjusted, W/T/L, as stored
    compared = [r.split(" | ") for r in rows if r.startswith("| bm25 | ")]
    assert len(compared) == 2 * len(suite.metrics)
    c = next(r for r in compared if r[1] == "BM25 k1=1.2 b=0.75 (top 100)" and r[2] == "R@1000†")
    assert c[3] == f"{row['delta']:+.4f}" and c[-1] == f"{row['wins']}/{row['ties']}/{row['losses']} |"
    assert c[5] == "n/c" and c[6] == "–"  # not comparable: no p adjusted, no MDE
    assert "paired t-test" in md and "† R@1000 of BM25" in md


def test_report_builds_no_index(beir_store: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    """A report whose comparison must be computed again reads the BM25 statistics from the stored BM25 run: it never
    opens, let alone builds, a Lucene index (here: none is there)."""
    suite_path, root = beir_store
    lucene = Store(root).artifacts_dir / "lucene"
    aside = root.parent / "lucene-aside"
    shutil.rmtree(root / "compare", ignore_errors=True)  # the report has to compare again
    lucene.rename(aside)
    try:
        assert main(["-q", "--results", str(root), "report", str(suite_path), "--format", "md", "--out", "-"]) == 0
        assert not lucene.exists()
    finally:
        shutil.rmtree(lucene, ignore_errors=True)
        aside.rename(lucene)
    summary = json.loads((root / "compare" / "beir-local" / "compare.json").read_text())
    source = summary["datasets"]["scifact"]["features"]["bm25_source"]
    assert source.startswith("scores in the stored run of system 'bm25'")
