"""Suite parsing: every shipped suite loads; every kind of bad input is one line naming file, field and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import HarnessError
from harness.suite.config import load_suite
from tests.conftest import SUITES

GOOD = """
name = "t"
metrics = ["nDCG@10", "AP(rel=2)@1000"]
baseline = "bm25"

[datasets.cran]
id = "cranfield"

[systems.bm25]
kind = "bm25"
k1 = 1.2

[systems.rrf]
kind = "run-file"
paths = { cran = "run.txt" }
"""


@pytest.mark.parametrize("path", sorted(SUITES.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_suites_load(path: Path) -> None:
    suite = load_suite(path)
    assert suite.datasets and suite.systems and suite.metrics


def test_good_suite_parses(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(GOOD)
    suite = load_suite(p)
    assert [d.name for d in suite.datasets] == ["cran"]
    assert suite.system("bm25").config.k1 == 1.2
    assert suite.system("bm25").config.b == 0.4  # default
    assert suite.system("bm25").k == 1000
    assert suite.metrics == ("nDCG@10", "AP(rel=2)@1000")
    # relative paths are relative to the suite file; the config keeps the path as written (what reports show)
    assert suite.system("rrf").config.paths["cran"] == "run.txt"
    assert suite.system("rrf").config.paths["cran"].resolved == tmp_path / "run.txt"


def test_pipeline_order_and_beir_self_match_default(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(
        'metrics = ["nDCG@10"]\n[datasets.a]\nid = "beir/arguana"\n[datasets.s]\nid = "beir/scifact/test"\n'
        '[systems.fused]\nkind = "run-file"\npaths = {}\n[systems.bm25]\nkind = "bm25"\n'
    )
    suite = load_suite(p)
    assert suite.dataset("a").exclude_self_matches is True
    assert suite.dataset("s").exclude_self_matches is False


BAD = [
    # (replace this, with this, expected fragments of the one-line error)
    ("k1 = 1.2", "k1 = 1.2\nk1 = 3", ["malformed TOML", ":12:"]),
    ("k1 = 1.2", "k1 = 1.2\nbogus = 3", ["systems.bm25.bogus", "unknown parameter", ":12:"]),
    ('name = "t"', 'name = "t"\ncolour = "red"', ["colour", "unknown key"]),
    ('id = "cranfield"', 'id = "cranfeld"', ["datasets.cran.id", "unknown ir_datasets id 'cranfeld'", ":7:"]),
    ('kind = "bm25"', 'kind = "bm52"', ["systems.bm25.kind", "unknown system kind 'bm52'", ":10:"]),
    ('"nDCG@10"', '"nDGC@10"', ["metrics[0]", "unknown metric 'nDGC@10'", ":3:"]),
    ("k1 = 1.2", 'k1 = "high"', ["systems.bm25.k1", "expected a number", ":11:"]),
    ('baseline = "bm25"', 'baseline = "dense"', ["baseline", "not a system of this suite"]),
    ("k1 = 1.2", 'k1 = 1.2\nfirst_stage = "rrf"', ["systems.bm25.first_stage", "only rerankers"]),
    ("[systems.bm25]", '[significance]\ntest = "z-test"\n[systems.bm25]', ["significance.test", "unknown test"]),
]


@pytest.mark.parametrize(("old", "new", "fragments"), BAD, ids=[b[2][0] for b in BAD])
def test_bad_suite_one_line_error(tmp_path: Path, old: str, new: str, fragments: list[str]) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(GOOD.replace(old, new, 1))
    with pytest.raises(HarnessError) as info:
        load_suite(p)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(p))
    for fragment in fragments:
        assert fragment in message, message


def test_missing_suite_file(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="suite file not found"):
        load_suite(tmp_path / "nope.toml")
