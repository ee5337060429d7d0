"""Lay out an ir_datasets home from a folder of local files (here: ../shared/data), so the real ir_datasets code
loads the collections with no network. The shared folder's own script does the bulk; this adds what it leaves out:
BEIR test topics/qrels for the datasets registered in harness.data.irds_extra, and the TREC Robust04 topics."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

from harness.core.errors import HarnessError
from harness.data.irds_extra import EXTRA


def prepare(home: Path, source: Path) -> list[str]:
    """Returns the extra files placed (besides what make_irds_home.py lays out)."""
    script = source / "make_irds_home.py"
    if not script.exists():
        raise HarnessError("no make_irds_home.py in the data folder", file=str(source), field="--source")
    subprocess.run([sys.executable, str(script), str(home)], check=True)
    placed = []
    anserini = source / "beir" / "_anserini-topics-qrels"
    for name in EXTRA:
        for kind, suffix in (("topics", "tsv.gz"), ("qrels", "txt")):
            src = anserini / f"{kind}.beir-v1.0.0-{name}.test.{suffix}"
            if src.exists():
                dst = home / "beir" / name / src.name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                placed.append(str(dst.relative_to(home)))
    topics = source / "robust04" / "topics.robust04.txt"
    if topics.exists():  # ir_datasets reads TREC Robust04 topics from the gzipped NIST file
        dst = home / "disks45" / "04.testset.gz"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(gzip.compress(topics.read_bytes(), mtime=0))
        placed.append(str(dst.relative_to(home)))
    return placed
