"""A new user's first hour (issue 23): the CLI finds its store and data from the suite's project, in any directory
and a new shell; `irh show` reads stored runs with no dataset loadable; `-q` prints nothing but the table;
`irh show --per-query` equals trec_eval -q (pytrec_eval, trec_eval's own code) on a DL run."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytrec_eval

from harness.core.errors import HarnessError
from harness.suite.loading import find_project, locate_store

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT.parent / "shared" / "data" / "msmarco-passage" / "runs-rankllm"
DL19 = "msmarco-passage/trec-dl-2019/judged"

DL_SUITE = f"""
name = "dl-first-hour"
metrics = ["nDCG@10", "AP", "R@100"]
baseline = "bm25"

[datasets.dl19]
id = "{DL19}"

[systems.bm25]
kind = "run-file"
paths = {{ dl19 = "{RUNS / "BM25.trec_results_dl19.txt"}" }}

[systems.tas-b]
kind = "run-file"
paths = {{ dl19 = "{RUNS / "D_BERT_KD_TASB.trec_results_dl19.txt"}" }}
"""


def new_shell(**extra: str) -> dict[str, str]:
    """The environment of a new shell: no IR_DATASETS_HOME, no IRH_RESULTS (this checkout's code on the path)."""
    env = {k: v for k, v in os.environ.items() if k not in ("IR_DATASETS_HOME", "IRH_RESULTS", "TQDM_DISABLE")}
    return env | {"PYTHONPATH": str(ROOT)} | extra


def irh(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], cwd=cwd, env=env or new_shell(), capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def dl_project(irds_home, tmp_path_factory) -> dict:
    """A project with a settings file (store and offline data), its DL suite run from another directory."""
    if not RUNS.exists():
        pytest.skip(f"shared runs not found at {RUNS}")
    base = tmp_path_factory.mktemp("first-hour")
    project, elsewhere = base / "project", base / "elsewhere"
    (project / "suites").mkdir(parents=True)
    elsewhere.mkdir()
    (project / "irharness.toml").write_text(f'results = "store"\nir_datasets_home = "{irds_home}"\n')
    suite = project / "suites" / "dl.toml"
    suite.write_text(DL_SUITE)
    run = irh("run", str(suite), cwd=elsewhere)
    assert run.returncode == 0, run.stderr
    return {"project": project, "elsewhere": elsewhere, "suite": suite, "run": run}


# ---------------------------------------------------------------- store and data discovery
def test_run_from_another_directory_uses_the_project_store_and_data(dl_project):
    project, elsewhere, run = dl_project["project"], dl_project["elsewhere"], dl_project["run"]
    first = run.stderr.splitlines()[0]
    assert first == (
        f"irh: store {project / 'store'} (results in {project / 'irharness.toml'}); "
        f"data: ir_datasets_home in {project / 'irharness.toml'}"
    )
    assert "plan: 2 stages: 0 cached, 2 to compute, 0 skipped" in run.stderr
    assert "computed  dl19/bm25" in run.stderr and "computed  dl19/tas-b" in run.stderr
    assert list(elsewhere.iterdir()) == [], "nothing is created in the current directory"
    assert len(list((project / "store" / "runs").glob("*/*.json"))) == 2
    assert "0.5058" in run.stdout  # BM25 nDCG@10 on DL19, as published by Pyserini / RankLLM


def test_show_in_a_new_shell_with_no_dataset_loadable(dl_project, tmp_path):
    """No settings for the data and an empty IR_DATASETS_HOME: show reads the store only, same numbers."""
    project, suite = dl_project["project"], dl_project["suite"]
    (project / "irharness.toml").write_text('results = "store"\n')
    try:
        empty_home = tmp_path / "no-data"
        empty_home.mkdir()
        no_data = new_shell(IR_DATASETS_HOME=str(empty_home))
        show = irh("show", str(suite), "--format", "json", cwd=tmp_path, env=no_data)
        assert show.returncode == 0, show.stderr
        assert show.stderr.splitlines()[0] == (
            f"irh: store {project / 'store'} (results in {project / 'irharness.toml'}); "
            f"data: $IR_DATASETS_HOME={empty_home}"
        )
        values = json.loads(show.stdout)["dl19"]
        assert set(values) == {"bm25", "tas-b"}
        assert round(values["bm25"]["nDCG@10"], 4) == 0.5058
        assert list(empty_home.iterdir()) == []
    finally:
        home = os.environ["IR_DATASETS_HOME"]
        (project / "irharness.toml").write_text(f'results = "store"\nir_datasets_home = "{home}"\n')


def test_missing_data_says_what_to_set(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "irharness.toml").write_text("")
    suite = project / "s.toml"
    suite.write_text(DL_SUITE)
    empty_home = tmp_path / "no-data"
    empty_home.mkdir()
    out = irh("run", str(suite), cwd=tmp_path, env=new_shell(IR_DATASETS_HOME=str(empty_home)))
    assert "not available locally" in out.stdout + out.stderr
    assert f"IR_DATASETS_HOME is {empty_home}; to use an offline copy, set ir_datasets_home in the project's " \
           "irharness.toml (or IR_DATASETS_HOME)" in out.stderr  # fmt: skip


def test_store_is_never_the_current_directory_by_accident(tmp_path, monkeypatch):
    monkeypatch.delenv("IRH_RESULTS", raising=False)
    project = tmp_path / "project"
    (project / "suites").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    suite = project / "suites" / "s.toml"
    suite.write_text("")
    monkeypatch.chdir(tmp_path)
    located = locate_store(None, suite)
    assert (located.path, located.source) == (project / "results", f"project {project}")
    (project / "irharness.toml").write_text('results = "../elsewhere/store"\n')
    assert locate_store(None, suite).path == tmp_path / "elsewhere" / "store"
    assert locate_store("given", suite).path == tmp_path / "given"
    monkeypatch.setenv("IRH_RESULTS", str(tmp_path / "env"))
    assert locate_store(None, suite).path == tmp_path / "env"
    monkeypatch.delenv("IRH_RESULTS")
    lone = tmp_path / "lone" / "s.toml"
    lone.parent.mkdir()
    with pytest.raises(HarnessError, match=r"no project found .* give --results DIR"):
        locate_store(None, lone)
    assert find_project(lone) is None


def test_a_bad_settings_file_is_a_one_line_error(tmp_path):
    (tmp_path / "irharness.toml").write_text('results = "r"\nresult = "typo"\n')
    message = r"irharness.toml:2: result: unknown key \(allowed: results, ir_datasets_home\)"
    with pytest.raises(HarnessError, match=message):
        find_project(tmp_path)


# ---------------------------------------------------------------- per-query values = trec_eval -q
def _trec_eval_per_query(run_file: Path, qrels: dict) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for line in run_file.read_text().splitlines():
        qid, _, doc, _, score, *_ = line.split()
        run.setdefault(qid, {})[doc] = float(score)
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map", "recall.100"})
    return {
        qid: {"nDCG@10": v["ndcg_cut_10"], "AP": v["map"], "R@100": v["recall_100"]}
        for qid, v in evaluator.evaluate({q: d for q, d in run.items() if q in qrels}).items()
    }


@pytest.fixture(scope="module")
def dl19_qrels(irds_home) -> dict[str, dict[str, int]]:
    import ir_datasets

    qrels: dict[str, dict[str, int]] = {}
    for q in ir_datasets.load(DL19).qrels_iter():
        qrels.setdefault(q.query_id, {})[q.doc_id] = q.relevance
    return qrels


def test_per_query_equals_trec_eval_q(dl_project, dl19_qrels):
    out = irh("-q", "show", str(dl_project["suite"]), "--per-query", cwd=dl_project["elsewhere"])
    assert out.returncode == 0 and out.stderr == "", out.stderr
    blocks = out.stdout.strip().split("\n\n")
    assert len(blocks) == 2
    for block, run_file in zip(blocks, ("BM25", "D_BERT_KD_TASB"), strict=True):
        expected = _trec_eval_per_query(RUNS / f"{run_file}.trec_results_dl19.txt", dl19_qrels)
        rows = [line.split("\t") for line in block.splitlines()]
        per_query = {(m.strip(), q): v for m, q, v in rows if q != "all"}
        assert {q for _, q in per_query} == set(expected) and len(expected) == 43
        for (measure, qid), text in per_query.items():
            assert text == f"{expected[qid][measure]:6.4f}", (measure, qid)
        summary = {m.strip(): v for m, q, v in rows if q == "all"}
        assert summary["runid"] == ("dl19/bm25" if run_file == "BM25" else "dl19/tas-b")
        mean = sum(v["nDCG@10"] for v in expected.values()) / len(expected)
        assert summary["nDCG@10"] == f"{mean:6.4f}"
        qids = [q for _, q, _ in rows if q != "all"]
        assert qids == sorted(qids, key=str.encode), "queries in trec_eval's order"


def test_per_query_json_and_csv_carry_full_precision(dl_project, dl19_qrels):
    expected = _trec_eval_per_query(RUNS / "BM25.trec_results_dl19.txt", dl19_qrels)
    suite, elsewhere = str(dl_project["suite"]), dl_project["elsewhere"]
    as_json = irh("-q", "show", suite, "--per-query", "--format", "json", cwd=elsewhere)
    bm25 = json.loads(as_json.stdout)["dl19"]["bm25"]
    assert bm25.keys() == expected.keys()
    assert all(bm25[q][m] == pytest.approx(v, abs=1e-12) for q in expected for m, v in expected[q].items())
    as_csv = irh("-q", "show", suite, "--per-query", "--format", "csv", cwd=elsewhere)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert list(rows[0]) == ["dataset", "system", "query_id", "measure", "value"]
    assert len(rows) == 2 * 43 * (3 + 1)  # and Judged@10, evaluated for every run
    for r in rows:
        if r["system"] == "bm25" and r["measure"] != "Judged@10":
            assert float(r["value"]) == pytest.approx(expected[r["query_id"]][r["measure"]], abs=1e-12)
    no_per_query = irh("show", suite, "--format", "csv", cwd=elsewhere)
    assert no_per_query.returncode == 2 and "add --per-query" in no_per_query.stderr


# ---------------------------------------------------------------- -q: errors and the final table only
def test_quiet_prints_the_table_only(irds_home, tmp_path):
    """BM25 on Cranfield reads ir_datasets' docs store ("[INFO] Opening …"), starts Lucene ("INFO: Using
    MemorySegmentIndexInput", Anserini's INFO lines) and draws tqdm bars: with -q, none of it."""
    (tmp_path / "irharness.toml").write_text(f'ir_datasets_home = "{irds_home}"\n')
    suite = tmp_path / "s.toml"
    suite.write_text('name = "q"\nmetrics = ["nDCG@10"]\n[datasets.cranfield]\nid = "cranfield"\n'
                     '[systems.bm25]\nkind = "bm25"\n')  # fmt: skip
    run = irh("-q", "run", str(suite), cwd=tmp_path)
    assert run.returncode == 0
    assert run.stderr == ""
    assert run.stdout.splitlines()[0] == "q · cranfield (cranfield): 225 judged queries"
    suite.write_text(suite.read_text().replace('["nDCG@10"]', '["nDCG@10", "P@5"]'))  # show evaluates P@5 now
    show = irh("-q", "show", str(suite), cwd=tmp_path)
    assert (show.returncode, show.stderr) == (0, "")
    header, _, row = show.stdout.splitlines()[1:4]
    assert header.split() == ["system", "nDCG@10", "P@5", "Judged@10"] and row.split()[:2] == ["bm25", "0.3220"]
    loud = irh("show", str(suite), cwd=tmp_path)
    assert loud.stderr.splitlines()[0].startswith("irh: store ")


# ---------------------------------------------------------------- help and suites list
def _parsers(parser: argparse.ArgumentParser, name: str = "irh"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_argument_has_help_and_every_command_an_example():
    from harness.cli import _parser

    seen = 0
    for name, parser in _parsers(_parser()):
        seen += 1
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{name}: {action.dest} has no help"
        if name != "irh":
            assert parser.epilog and parser.epilog.startswith(f"example:\n  {name}"), name
        text = parser.format_help()
        assert "``" not in text and "\\n" not in text, f"{name}: raw markup in --help"
    assert seen > 15


def test_version_line():
    out = irh("--version", cwd=ROOT)
    assert out.returncode == 0 and out.stdout.startswith("irh ")


def test_suites_list_counts_and_grammar():
    out = irh("suites", "list", "suites", cwd=ROOT)
    lines = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "beir: 18 datasets (cqadupstack as 12 parts), 1 system," in lines["suites/beir.toml"]
    assert "smoke: 2 datasets, 4 systems," in lines["suites/smoke.toml"]
    assert "msmarco-dev: 1 dataset, 2 systems," in lines["suites/msmarco-dev.toml"]
