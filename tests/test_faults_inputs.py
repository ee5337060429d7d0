"""Hostile or damaged input is one line `irh: error: FILE[:LINE]: field: message`, exit 2, and the store is untouched
(issue 20). Suites run over Cranfield with an imported run (built from its qrels), so no JVM or model is needed."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import snapshot

BASE = """name = "faults"
metrics = ["nDCG@10", "P@10"]

[datasets.cranfield]
id = "cranfield"

[systems.imp]
kind = "run-file"
paths = { cranfield = "run.trec" }
"""


def _run_lines(irds_home: Path) -> list[str]:
    """A TREC run of Cranfield: each query's judged documents, most relevant first."""
    import ir_datasets

    by_query: dict[str, list[tuple[int, str]]] = {}
    for q in ir_datasets.load("cranfield").qrels_iter():
        by_query.setdefault(q.query_id, []).append((q.relevance, q.doc_id))
    return [
        f"{qid} Q0 {did} {rank} {100 - rank} t\n"
        for qid, docs in sorted(by_query.items())
        for rank, (_, did) in enumerate(sorted(docs, reverse=True), start=1)
    ]


@pytest.fixture(scope="module")
def stored(irds_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A store holding the base suite's run and evaluation, and the run's lines."""
    root = tmp_path_factory.mktemp("faults")
    lines = _run_lines(irds_home)
    (root / "run.trec").write_text("".join(lines))
    (root / "s.toml").write_text(BASE)
    assert main(["--results", str(root / "results"), "run", str(root / "s.toml")]) == 0
    return root / "results", lines


@pytest.fixture
def work(stored: tuple[Path, list[str]], tmp_path: Path) -> Path:
    """A copy of the stored base (store + run.trec) to break things in."""
    shutil.copytree(stored[0], tmp_path / "results")
    (tmp_path / "run.trec").write_text("".join(stored[1]))
    return tmp_path


def irh(work: Path, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["--results", str(work / "results"), *args])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(err: str, prefix: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"irh: error: {prefix}"), lines[0]


def line_of(text: str, marker: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), start=1) if marker in ln)


# (what the suite gets, the marker on the offending line, the field named)
BAD_SUITES = [
    ('\n[systems.bm25]\nkind = "bm25"\nk1 = -3\n', "k1 = -3", "systems.bm25.k1"),
    ('\n[systems.bm25]\nkind = "bm25"\nk1 = nan\n', "k1 = nan", "systems.bm25.k1"),
    ('\n[systems.bm25]\nkind = "bm25"\nk1 = 1e308\n', "k1 = 1e308", "systems.bm25.k1"),
    ('\n[systems.bm25]\nkind = "bm25"\nb = 1.5\n', "b = 1.5", "systems.bm25.b"),
    ('\n[systems."my bm25"]\nkind = "bm25"\nk1 = -1\n', "k1 = -1", "systems.my bm25.k1"),  # a quoted name
    ('\n[systems.bm25]\nkind = "bm25"\nk = 10000000000000\n', "k = 1000", "systems.bm25.k"),
    ('\n[systems.d]\nkind = "dense"\nbatch_size = 10000000000000\n', "batch_size", "systems.d.batch_size"),
    (
        '\n[systems.ce]\nkind = "cross-encoder"\nmodel = "pkg:x"\nfirst_stage = "imp"\ndepth = 10000000000000\n',
        "depth = ",
        "systems.ce.depth",
    ),
    (
        '\n[systems.llm]\nkind = "llm-pointwise"\nbackend = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'first_stage = "imp"\ntimeout = 0\n',
        "timeout",
        "systems.llm.timeout",
    ),
    (
        '\n[systems.f]\nkind = "rrf"\ninputs = ["imp", "imp2"]\nweights = [1, 2, 3]\n'
        '[systems.imp2]\nkind = "run-file"\npaths = { cranfield = "run.trec" }\nlabel = "second"\n',
        "weights",
        "systems.f.weights",
    ),
    ("\n[significance]\nn_permutations = 0\n", "n_permutations", "significance.n_permutations"),
    ("\n[significance]\nn_permutations = -5\n", "n_permutations", "significance.n_permutations"),
    ("\n[significance]\ntie_tolerance = -0.1\n", "tie_tolerance", "significance.tie_tolerance"),
    ("\n[regression]\ntolerance = -1\n", "tolerance", "regression.tolerance"),
    ("\n[regression]\ntolerance = nan\n", "tolerance", "regression.tolerance"),
    ('\n[regression]\nmetrics = { "nDCG@10" = -0.5 }\n', '"nDCG@10" = -0.5', "regression.metrics.nDCG@10"),
    (
        '\n[systems.imp2]\nkind = "run-file"\npaths = { cranfield = "run.trec" }\nlabel = "imp"\n',
        'label = "imp"',
        "systems.imp2.label",
    ),
    (
        '\n[systems.dev]\nkind = "run-file"\npaths = { cranfield = "/dev/zero" }\n',
        "/dev/zero",
        "systems.dev.paths.cranfield",
    ),
    (
        '\n[systems.dir]\nkind = "run-file"\npaths = { cranfield = "." }\n',
        'cranfield = "."',
        "systems.dir.paths.cranfield",
    ),
]


@pytest.mark.parametrize(("extra", "marker", "field"), BAD_SUITES, ids=[f"{b[2]}:{b[1]}" for b in BAD_SUITES])
def test_bad_value_is_one_line_with_file_line_field(
    work: Path, capsys: pytest.CaptureFixture, extra: str, marker: str, field: str
) -> None:
    text = BASE + extra
    suite = work / "bad.toml"
    suite.write_text(text)
    before = snapshot(work / "results")
    rc, _, err = irh(work, capsys, "run", str(suite))
    assert rc == 2
    assert_one_line_error(err, f"{suite}:{line_of(text, marker)}: {field}: ")
    assert snapshot(work / "results") == before


@pytest.mark.parametrize("name", ["../../../../tmp/x", "a/b", "..", "x\ny", ""])
def test_suite_name_is_a_slug(work: Path, capsys: pytest.CaptureFixture, name: str) -> None:
    suite = work / "bad.toml"
    suite.write_text(BASE.replace('name = "faults"', f"name = {json.dumps(name)}"))
    before = snapshot(work / "results")
    for command in (["run"], ["compare"], ["report", "--format", "md"], ["baseline", "save"]):
        rc, _, err = irh(work, capsys, *command, str(suite))
        assert rc == 2
        assert_one_line_error(err, f"{suite}:1: name: ")
    assert snapshot(work / "results") == before
    assert not (work / "reports").exists()


@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_suite_that_is_not_a_text_file(work: Path, capsys: pytest.CaptureFixture, kind: str) -> None:
    suite = work / "suite.toml"
    if kind == "directory":
        suite.mkdir()
    else:
        suite.write_bytes(gzip.compress(BASE.encode()))
    rc, _, err = irh(work, capsys, "show", str(suite))
    assert rc == 2
    assert_one_line_error(err, f"{suite}: suite file is not ")


@pytest.mark.parametrize("damage", ["truncated", "not-gzip"])
def test_damaged_gz_run_file(work: Path, capsys: pytest.CaptureFixture, damage: str) -> None:
    text = "".join((work / "run.trec").read_text())
    data = gzip.compress(text.encode())[:-200] if damage == "truncated" else text.encode()
    (work / "run.trec.gz").write_bytes(data)
    suite = work / "gz.toml"
    suite.write_text(BASE.replace('name = "faults"', 'name = "gz"').replace("run.trec", "run.trec.gz"))
    before = snapshot(work / "results")
    rc, _, err = irh(work, capsys, "run", str(suite))
    assert rc == 2
    assert_one_line_error(err, f"{work / 'run.trec.gz'}: damaged gzip file")
    assert snapshot(work / "results") == before


def test_bom_in_run_file_is_accepted(work: Path, capsys: pytest.CaptureFixture) -> None:
    (work / "bom.trec").write_bytes(b"\xef\xbb\xbf" + (work / "run.trec").read_bytes())
    suite = work / "bom.toml"
    suite.write_text(BASE + '\n[systems.bom]\nkind = "run-file"\npaths = { cranfield = "bom.trec" }\n')
    rc, _, err = irh(work, capsys, "run", str(suite))
    assert rc == 0, err
    rc, out, _ = irh(work, capsys, "show", str(suite), "--format", "json")
    means = json.loads(out)["cranfield"]
    assert means["bom"] == means["imp"]
    assert means["imp"]["nDCG@10"] > 0.9  # the run ranks judged documents: the numbers are real


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_empty_run_file_is_an_error(work: Path, capsys: pytest.CaptureFixture, content: str) -> None:
    """An import that ranks nothing is a wrong or truncated file: an error, never a row of 0.0000 with exit 0."""
    (work / "empty.trec").write_text(content)
    suite = work / "empty.toml"
    suite.write_text(BASE.replace("run.trec", "empty.trec"))
    before = snapshot(work / "results")
    rc, out, err = irh(work, capsys, "run", str(suite))
    assert rc == 2
    assert_one_line_error(err, f"{work / 'empty.trec'}: run file has no rankings")
    assert "0.0000" not in out
    assert snapshot(work / "results") == before


def test_system_name_with_space_round_trips(work: Path, capsys: pytest.CaptureFixture) -> None:
    """The stored run's TREC tag is one field; the name (with its space) stays in the sidecar."""
    shutil.rmtree(work / "results")  # the base suite's run has the same key: this name must write it
    suite = work / "space.toml"
    suite.write_text(BASE.replace("[systems.imp]", '[systems."my imp ü"]'))
    rc, _, err = irh(work, capsys, "run", str(suite))
    assert rc == 0, err
    (sidecar,) = (work / "results" / "runs").rglob("*.json")
    assert json.loads(sidecar.read_text())["system"] == "my imp ü"
    (run,) = (work / "results" / "runs").rglob("*.gz")
    tags = {line.split()[5] for line in gzip.decompress(run.read_bytes()).decode().splitlines()}
    assert tags == {"my_imp__"}
    # read back: by this suite and by another whose system has the same config (the same cache key)
    for text in (suite.read_text(), BASE):
        suite.write_text(text)
        rc, out, err = irh(work, capsys, "show", str(suite), "--format", "json")
        assert rc == 0, err
        assert min(json.loads(out)["cranfield"].values(), key=str)["nDCG@10"] > 0.9


def test_path_variables_are_never_printed(work: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    secret = "sk-test-0123456789abcdef"
    (work / secret).mkdir()
    shutil.copy(work / "run.trec", work / secret / "run.trec")
    (work / secret / "empty.trec").write_text("")
    monkeypatch.setenv("IRH_TEST_SECRET", secret)
    suite = work / "secret.toml"
    suite.write_text(
        BASE.replace('name = "faults"', 'name = "secret"').replace('"run.trec"', '"${IRH_TEST_SECRET}/run.trec"')
        + '\n[systems.missing]\nkind = "run-file"\npaths = { cranfield = "$IRH_TEST_SECRET/none.trec" }\n'
    )
    printed = []
    for command in (["run"], ["show"], ["report", "--format", "md"], ["report", "--format", "html"]):
        rc, out, err = irh(work, capsys, *command, str(suite), *(["--out", "-"] if command[0] == "report" else []))
        assert rc == 0, err
        printed.append(out + err)
    assert "${IRH_TEST_SECRET}/run.trec" in printed[-1]  # the report shows the path as written
    # a damaged file under the secret path: the error names the path as written
    suite.write_text(suite.read_text().replace("/run.trec", "/empty.trec"))
    rc, out, err = irh(work, capsys, "run", str(suite))
    assert rc == 2
    assert_one_line_error(err, "${IRH_TEST_SECRET}/empty.trec: ")
    printed.append(out + err)
    assert not [p for p in printed if secret in p]
    sidecars = "".join(p.read_text() for p in (work / "results" / "runs").rglob("*.json"))
    assert "IRH_TEST_SECRET" in sidecars and secret not in sidecars


def test_fifo_run_file_does_not_hang(work: Path, capsys: pytest.CaptureFixture) -> None:
    os.mkfifo(work / "fifo.trec")
    suite = work / "fifo.toml"
    suite.write_text(BASE.replace("run.trec", "fifo.trec"))
    rc, _, err = irh(work, capsys, "run", str(suite))
    assert rc == 2
    assert_one_line_error(err, f"{suite}:{line_of(BASE, 'paths')}: systems.imp.paths.cranfield: ")
