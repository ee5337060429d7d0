"""Issue 20, output side: hostile strings are escaped in every report format, `irh report --out` writes only a
regular file (or a folder for LaTeX), an LLM server's error body never shows a key, a regression check cannot pass
without checking anything, and `irh cache rm` never removes more than it was asked to."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.core.errors import HarnessError
from harness.core.run import Run
from harness.report.context import build_context
from harness.report.html import render_html
from harness.report.latex import write_latex
from harness.report.markdown import render_markdown
from harness.report.render import write_report
from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.regression import verdict
from harness.suite.results import Results
from systems.llm.backends import OpenAIBackend
from tests.conftest import snapshot
from tests.test_report_tables import compile_latex

# ---------------------------------------------------------------- A: markup
EVIL = "Evil\n\\input{/etc/passwd} 100% & <script>alert(1)</script> | `x` [a](b) $x^2$ #_{}~"
EVIL_NAME = "x\n\\input{/etc/passwd}\n% y"
DESCRIPTION = json.dumps("two lines\n\\input{/etc/passwd} <b>bold</b>")
SUITE = f"""
name = "hostile"
description = {DESCRIPTION}
metrics = ["nDCG@10", "RR@10"]
[datasets.a]
id = "beir/scifact/test"
[systems.base]
kind = "run-file"
label = {json.dumps(EVIL)}
paths = {{ a = "x" }}
[systems.two]
kind = "run-file"
label = "Two | <img src=x onerror=alert(1)>"
paths = {{ a = "x" }}
"""


@pytest.fixture(scope="module")
def hostile_context(tmp_path_factory: pytest.TempPathFactory):
    """A report context whose suite name, description and system labels carry LaTeX, HTML and Markdown syntax."""
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "s.toml").write_text(SUITE)
    suite = load_suite(tmp / "s.toml", check_datasets=False)
    suite = dataclasses.replace(suite, name=EVIL_NAME)  # whatever the suite loader accepts, the report must escape it
    rng = np.random.default_rng(0)
    rows = [
        ("a", system, f"q{i}", metric, float(v))
        for system in ("base", "two")
        for metric in ("nDCG@10", "RR@10")
        for i, v in enumerate(rng.random(10))
    ]
    info = {("a", s): {"depth_limited": [], "wall_seconds": 1.0, "run_key": s, "depth": 10} for s in ("base", "two")}
    datasets = {"a": {"irds_id": "a", "judged_queries": 10, "unjudged_dropped": 0, "exclude_self_matches": False}}
    results = Results(pd.DataFrame(rows, columns=["dataset", "system", "query_id", "metric", "value"]), info, datasets)
    return build_context(suite, results, None)


def test_latex_escapes_names_labels_and_comments(hostile_context, tmp_path: Path) -> None:
    wrapper = write_latex(hostile_context, tmp_path / "latex")
    texts = [wrapper.read_text(), *(p.read_text() for p in (tmp_path / "latex" / "tables").glob("*.tex"))]
    for text in texts:
        assert "\\input{/etc" not in text  # escaped: \textbackslash{}input\{/etc/passwd\}
        for line in text.splitlines():
            assert not line.lstrip().startswith(("\\input{/etc", "% y")), line
    table = texts[1]
    assert re.findall(r"\\label\{([^}]*)\}", table) == ["tab:x-input-etc-passwd-y-a"]  # a slug
    assert r"Evil \textbackslash{}input\{/etc/passwd\} 100\% \& \textless{}script\textgreater{}" in table
    pdf, n_tables = compile_latex(wrapper)  # the escaped document still compiles
    assert n_tables == 1 and pdf.exists()


def test_markdown_escapes_html_pipes_and_line_breaks(hostile_context) -> None:
    md = render_markdown(hostile_context)
    assert "<script" not in md and "<img" not in md and "<b>" not in md and "\\input{/etc" not in md.replace("\\\\", "")
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    header = rows[0]
    n_cells = len(re.split(r"(?<!\\)\|", header))
    assert all(len(re.split(r"(?<!\\)\|", r)) == n_cells for r in rows), rows  # no cell breaks out of its column
    evil_row = next(r for r in rows if r.startswith("| Evil"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\| \\`x\\` \\[a\\](b)" in evil_row
    assert not any(line.startswith(("% y", "\\\\input")) for line in md.splitlines())


def test_html_escapes_every_user_string(hostile_context) -> None:
    html = render_html(hostile_context)
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


# ---------------------------------------------------------------- B: irh report --out
def _device(path: Path) -> Path:
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # like /dev/null
    except PermissionError:
        pytest.skip("creating a device node needs root")
    return path


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
@pytest.mark.parametrize("fmt", ["html", "md"])
def test_report_file_refuses_special_files(hostile_context, tmp_path: Path, kind: str, fmt: str) -> None:
    out = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "device":
        _device(out)
    else:
        out.mkdir()
    mode = out.stat().st_mode
    with pytest.raises(HarnessError, match=r"is a (FIFO|character device|directory): a report file needs"):
        write_report(hostile_context, fmt, out)
    assert out.stat().st_mode == mode  # still what it was, not replaced by a regular file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp file left


def test_latex_report_refuses_a_file_or_fifo_as_its_folder(hostile_context, tmp_path: Path) -> None:
    regular, fifo = tmp_path / "report.txt", tmp_path / "fifo"
    regular.write_text("keep me")
    os.mkfifo(fifo)
    with pytest.raises(HarnessError, match="is a regular file: the LaTeX report is a folder"):
        write_report(hostile_context, "latex", regular)
    with pytest.raises(HarnessError, match="is a FIFO: the LaTeX report is a folder"):
        write_report(hostile_context, "latex", fifo)
    (tmp_path / "latex" / "tables").mkdir(parents=True)
    os.mkfifo(tmp_path / "latex" / "report.tex")  # a FIFO where the wrapper goes
    with pytest.raises(HarnessError, match="is a FIFO"):
        write_report(hostile_context, "latex", tmp_path / "latex")
    assert regular.read_text() == "keep me" and stat.S_ISFIFO((tmp_path / "latex" / "report.tex").stat().st_mode)


def test_irh_report_out_fifo_is_a_one_line_error(
    irds_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "s.toml").write_text(SUITE)
    os.mkfifo(tmp_path / "fifo")
    args = ["--results", str(tmp_path / "results"), "report", str(tmp_path / "s.toml"), "--out", str(tmp_path / "fifo")]
    assert main(args) == 2
    err = capsys.readouterr().err
    expected = (
        f"irh: error: {tmp_path / 'fifo'}: is a FIFO: a report file needs a new path or a regular file to replace"
    )
    assert err.splitlines()[-1] == expected and err.count("irh: error") == 1
    assert stat.S_ISFIFO((tmp_path / "fifo").stat().st_mode)


# ---------------------------------------------------------------- C: LLM server errors
KEY = "sk-test-0123456789abcdefSECRET"


class Echo(BaseHTTPRequestHandler):
    """Answers 401 with a body that echoes the request's credentials, as some proxies do."""

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = (
            f"Unauthorized: Authorization: {self.headers['Authorization']}; "
            f'{{"api_key": "{KEY}", "padding": "{"x" * 150}", "token": "{KEY}"}}'
        ).encode()
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_llm_http_error_body_is_shown_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("IRH_TEST_KEY", KEY)
        backend = OpenAIBackend(f"http://127.0.0.1:{httpd.server_address[1]}/v1", "m", "IRH_TEST_KEY", 10)
        with pytest.raises(HarnessError) as e:
            backend.generate([{"role": "user", "content": "hi"}], 5)
    finally:
        httpd.shutdown()
        httpd.server_close()
    message = str(e.value)
    assert "HTTP 401: Unauthorized: Authorization: [REDACTED]" in message and "\n" not in message
    assert "sk-" not in message and "SECRET" not in message and "0123456789" not in message, message


# ---------------------------------------------------------------- D: regression checks cannot pass vacuously
TINY = """
name = "tiny"
metrics = ["nDCG@10", "RR@10"]
[datasets.cran]
id = "cranfield"
[systems.x]
kind = "run-file"
paths = { cran = "x.run" }
[systems.y]
kind = "run-file"
paths = { cran = "y.run" }
"""
RUN = "1 Q0 184 1 3.0 t\n1 Q0 29 2 2.0 t\n2 Q0 12 1 3.0 t\n2 Q0 13 2 2.0 t\n"


@pytest.fixture(scope="module")
def tiny(irds_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A two-system suite on Cranfield (imported runs), its store and its saved baseline."""
    tmp = tmp_path_factory.mktemp("tiny")
    (tmp / "x.run").write_text(RUN)
    (tmp / "y.run").write_text(RUN.replace("184", "51"))
    (tmp / "tiny.toml").write_text(TINY)
    store, baselines = tmp / "results", tmp / "baselines"
    assert (
        main(["--results", str(store), "baseline", "save", str(tmp / "tiny.toml"), "--baselines", str(baselines)]) == 0
    )
    return tmp / "tiny.toml", store, baselines / "tiny.json"


def _regress(tiny, baseline: dict | None = None, *extra: str, suite: Path | None = None) -> int:
    suite_path, store, path = tiny
    folder = path.parent
    if baseline is not None:
        folder = suite_path.parent / f"b{abs(hash(json.dumps(baseline, sort_keys=True)))}"
        folder.mkdir(exist_ok=True)
        (folder / "tiny.json").write_text(json.dumps(baseline))
    args = ["--results", str(store), "regress", str(suite or suite_path), "--baselines", str(folder), *extra]
    return main(args)


def _saved(tiny) -> dict:
    return json.loads(tiny[2].read_text())


def test_regress_passes_on_its_own_baseline(tiny, capsys: pytest.CaptureFixture) -> None:
    assert _regress(tiny) == 0
    assert capsys.readouterr().out.rstrip().endswith("4 OK, 0 IMPROVED, 0 REGRESSED, 0 MISSING, 0 INVALID, "
                                                     "0 UNCOVERED, 0 NEW → PASS")  # fmt: skip


def test_regress_with_an_empty_baseline_fails(tiny, capsys: pytest.CaptureFixture) -> None:
    assert _regress(tiny, {**_saved(tiny), "expected": {}}) == 2
    assert "expected: the baseline expects no value: nothing would be checked" in capsys.readouterr().err


def test_regress_only_matching_nothing_fails(tiny, capsys: pytest.CaptureFixture) -> None:
    assert _regress(tiny, None, "--only", "cran/nope*") == 2
    assert "--only: 'cran/nope*' matches no DATASET/SYSTEM of the suite" in capsys.readouterr().err


def test_regress_rejects_nan_and_strings_in_the_baseline(tiny, capsys: pytest.CaptureFixture) -> None:
    for bad in (float("nan"), "0.5", None):
        doc = _saved(tiny)
        doc["expected"]["cran"]["x"]["nDCG@10"]["value"] = bad
        assert _regress(tiny, doc) == 2
        err = capsys.readouterr().err
        assert "expected.cran.x.nDCG@10.value: not a finite number" in err and err.count("\n") == 1, err
    doc = _saved(tiny)
    doc["expected"]["cran"]["x"]["RR@10"]["tolerance"] = "big"
    assert _regress(tiny, doc) == 2
    assert "expected.cran.x.RR@10.tolerance: not a number >= 0" in capsys.readouterr().err


def test_nan_result_is_invalid_not_ok() -> None:
    assert verdict(0.5, float("nan"), 0.01) == "INVALID"
    assert verdict(float("nan"), 0.5, 0.01) == "INVALID"


def test_regress_refuses_another_suites_baseline(tiny, capsys: pytest.CaptureFixture) -> None:
    assert _regress(tiny, {**_saved(tiny), "suite": "other"}) == 2
    assert "suite: a baseline of suite 'other', not of 'tiny'" in capsys.readouterr().err


def test_suite_change_fails_unless_allowed(tiny, capsys: pytest.CaptureFixture) -> None:
    changed = tiny[0].with_name("changed.toml")
    changed.write_text(
        TINY.replace('metrics = ["nDCG@10", "RR@10"]', 'metrics = ["nDCG@10", "RR@10"]\ndescription = "d"')
    )
    assert _regress(tiny, None, suite=changed) == 2
    err = capsys.readouterr().err
    assert "suite_digest: saved from another version of" in err and "--allow-suite-change" in err
    assert _regress(tiny, None, "--allow-suite-change", suite=changed) == 0
    assert "note: the suite file changed since the baseline was saved" in capsys.readouterr().out


def test_value_the_unchanged_suite_produces_without_expectation_fails(tiny, capsys: pytest.CaptureFixture) -> None:
    doc = _saved(tiny)
    del doc["expected"]["cran"]["y"]  # y's rows could never regress
    assert _regress(tiny, doc) == 1
    out = capsys.readouterr().out
    assert re.search(r"^cran\s+y\s+nDCG@10 .*UNCOVERED$", out, re.M) and out.rstrip().endswith("→ FAIL")


def test_baseline_lists_systems_it_does_not_cover(tiny, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    suite, store, _ = tiny
    args = ["--results", str(store), "baseline", "save", str(suite), "--baselines", str(tmp_path)]
    assert main([*args, "--not-covered", "*/y", "--reason", "hours on CPU"]) == 0
    doc = json.loads((tmp_path / "tiny.json").read_text())
    assert doc["not_covered"] == {"cran": {"y": "hours on CPU"}} and list(doc["expected"]["cran"]) == ["x"]
    capsys.readouterr()
    assert main(["--results", str(store), "regress", str(suite), "--baselines", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "note: not covered by the baseline (not checked): cran/y: hours on CPU" in out
    assert not re.search(r"^cran\s+y\s", out, re.M)
    assert main(["--results", str(store), "regress", str(suite), "--baselines", str(tmp_path), "--only", "*/y"]) == 2
    assert "nothing to check: the baseline does not cover cran/y (hours on CPU)" in capsys.readouterr().err


# ---------------------------------------------------------------- E: irh cache rm
def _store_with_runs(root: Path, keys: dict[str, str]) -> Store:
    store = Store(root)
    for key, system in keys.items():
        store.save_run(key, Run({"1": {"d": 1.0}}), {"system": system})
    return store


def test_cache_rm_refuses_empty_and_ambiguous_keys(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "results"
    store = _store_with_runs(root, {"ab" + "1" * 62: "x", "ab" + "2" * 62: "x", "cd" + "3" * 62: "y"})
    before = snapshot(root)
    rm = ["--results", str(root), "cache", "rm"]
    assert main([*rm, ""]) == 2
    assert "an empty key would match every run" in capsys.readouterr().err
    assert main([*rm, "ab"]) == 2
    assert "key 'ab' matches 2 runs; give more of the key, or --all" in capsys.readouterr().err
    assert main([*rm, "--system", "x"]) == 2
    assert main([*rm, "cd", "ab"]) == 2  # nothing removed when any selector is refused
    assert snapshot(root) == before
    assert main([*rm, "ab1"]) == 0 and "removed 1 run(s)" in capsys.readouterr().out
    assert main([*rm, "--system", "x", "--all"]) == 0
    assert [m["system"] for m in store.entries("runs")] == ["y"]
