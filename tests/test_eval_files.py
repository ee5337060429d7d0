"""``irh eval RUN... --qrels``: run files without a suite or a store, with the suite path's exact numbers and
significance (the real DL19/DL20 runs and judgments from ../shared/data)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.cli.evaluation import _with_rel
from harness.core.measures import label
from tests.conftest import SHARED_DATA, SUITES

RUNS = SHARED_DATA / "msmarco-passage" / "runs-rankllm"
DL19_QRELS = SHARED_DATA / "msmarco-passage" / "trec-dl-2019" / "qrels.dl19-passage.txt"
DL20_QRELS = SHARED_DATA / "msmarco-passage" / "trec-dl-2020" / "qrels.dl20-passage.txt"
DL19 = {
    "bm25": "BM25.trec_results_dl19.txt",
    "bm25-rm3": "BM25_RM3.trec_results_dl19.txt",
    "tas-b": "D_BERT_KD_TASB.trec_results_dl19.txt",
    "splade-pp": "SPLADE_P_P_ENSEMBLE_DISTIL.trec_results_dl19.txt",
}
METRICS = ["nDCG@10", "RR(rel=2)@10", "AP(rel=2)@1000", "R(rel=2)@1000"]  # suites/trec-dl.toml's


def _eval_json(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert main(["eval", *argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _means(report: dict, measure: str = "nDCG@10") -> dict[str, float]:
    return {m["system"]: m["value"] for m in report["means"] if m["measure"] == measure}


def test_six_dl_runs_give_the_published_ndcg(irds_home: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no --results: a store would be ./results
    dl19 = [f"{n}={RUNS / f}" for n, f in DL19.items()]
    assert main(["eval", *dl19, "--qrels", "msmarco-passage/trec-dl-2019/judged"]) == 0
    out = capsys.readouterr().out
    for value in ("0.5058", "0.5216", "0.7210", "0.7308"):
        assert value in out
    assert "rel ≥ 2" in out and "RR(rel=2)@10" in out  # DL's official level, from ir_datasets
    assert "0.2476†" in out  # AP(rel=2)@1000 of a top-100 run is marked depth-limited
    report = _eval_json(
        capsys,
        f"bm25={RUNS / 'BM25.trec_results_dl20.txt'}",
        f"splade={RUNS / 'SPLADE_P_P_ENSEMBLE_DISTIL.trec_results_dl20.txt'}",
        "--qrels",
        str(DL20_QRELS),
    )
    assert {k: round(v, 4) for k, v in _means(report).items()} == {"bm25": 0.4796, "splade": 0.7197}
    assert report["judged_queries"] == 54 and report["rel"] == 1  # a qrels file: trec_eval's default level
    assert not (tmp_path / "results").exists()  # no store needed, none made


def test_rel_level_of_a_qrels_file_is_given_with_rel(irds_home: Path, capsys) -> None:
    """The DL19 qrels file with --rel 2 gives exactly the ir_datasets id's numbers (where rel=2 is the default)."""
    runs = [f"{n}={RUNS / f}" for n, f in list(DL19.items())[:2]]
    by_id = _eval_json(capsys, *runs, "--qrels", "msmarco-passage/trec-dl-2019/judged")
    by_file = _eval_json(capsys, *runs, "--qrels", str(DL19_QRELS), "--rel", "2")
    rel1 = _eval_json(capsys, *runs, "--qrels", str(DL19_QRELS))
    assert [m["measure"] for m in by_id["means"]][:4] == METRICS
    assert by_file["means"] == by_id["means"]
    assert _means(rel1, "RR@10") != _means(by_id, "RR(rel=2)@10")


def test_binary_measures_take_the_level_graded_ones_do_not() -> None:
    got = [label(m) for m in _with_rel(["nDCG@10", "AP@1000", "RR(rel=3)@10", "P@10", "NumRel", "Judged@10"], 2)]
    assert got == ["nDCG@10", "AP(rel=2)@1000", "RR(rel=3)@10", "P(rel=2)@10", "NumRel", "Judged@10"]


def test_compare_prints_the_p_values_of_irh_compare(irds_home: Path, tmp_path: Path, capsys) -> None:
    """--compare on the DL19 files = `irh compare suites/trec-dl.toml` on the same four imported runs (its settings:
    randomization test, Holm over the 12 comparisons those runs give)."""
    store = str(tmp_path / "results")
    only = [a for n in DL19 for a in ("--only", f"dl19/{n}")]
    assert main(["--results", store, "run", str(SUITES / "trec-dl.toml"), *only]) == 0
    capsys.readouterr()
    assert main(["--results", store, "compare", str(SUITES / "trec-dl.toml"), "--format", "json", "--no-plots"]) == 0
    suite_cmp = json.loads(capsys.readouterr().out)
    runs = [f"{n}={RUNS / f}" for n, f in DL19.items()]
    files_cmp = _eval_json(
        capsys, *runs, "--qrels", str(DL19_QRELS), "--rel", "2", "--compare", "--test", "randomization"
    )["comparison"]
    key = ("system", "measure")
    want = {tuple(r[k] for k in key): r for r in suite_cmp["comparisons"]}
    got = {tuple(r[k] for k in key): r for r in files_cmp["comparisons"]}
    assert got.keys() == want.keys() and len(got) == 12  # 3 systems × 4 measures, one family
    for k, r in got.items():
        for column in ("p", "p_corrected", "significant", "wins", "ties", "losses", "mean", "baseline_mean"):
            assert r[column] == want[k][column], (k, column)
    assert {files_cmp["settings"][k] for k in ("test", "correction")} == {"randomization", "holm"}
    capsys.readouterr()
    assert main(["eval", *runs, "--qrels", str(DL19_QRELS), "--compare"]) == 0  # the suite defaults
    assert "compared with bm25 (paired t-test, Holm correction over all 12 comparisons" in capsys.readouterr().out


def test_eval_suite_form_still_reads_the_store(irds_home: Path, tmp_path: Path, capsys) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text(
        'metrics = ["nDCG@10"]\n[datasets.dl19]\nid = "msmarco-passage/trec-dl-2019/judged"\n'
        f'[systems.bm25]\nkind = "run-file"\npaths = {{ dl19 = "{RUNS / DL19["bm25"]}" }}\n'
    )
    store = str(tmp_path / "results")
    assert main(["--results", store, "run", str(suite)]) == 0
    capsys.readouterr()
    assert main(["--results", store, "eval", str(suite)]) == 0
    assert "0.5058" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["a.trec", "b.trec"], "2 arguments and no --qrels: give --qrels to evaluate run files"),
        (["s.toml", "--compare"], "--compare: for run files (with --qrels), not a suite"),
        ([str(RUNS / DL19["bm25"]), "--qrels", str(DL19_QRELS), "--only", "x/y"], "--only selects a suite's runs"),
        ([str(RUNS / DL19["bm25"]), "--qrels", str(DL19_QRELS), "--compare"], "--compare needs at least two runs"),
        ([str(RUNS / DL19["bm25"]), str(RUNS / DL19["bm25"]), "--qrels", str(DL19_QRELS)], "two runs named"),
        (["missing.trec", "--qrels", str(DL19_QRELS)], "missing.trec: run file not found"),
    ],
)
def test_bad_eval_input_is_one_line(argv: list[str], message: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["eval", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not os.listdir(tmp_path)
