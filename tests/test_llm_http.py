"""The OpenAI-compatible backend against a stub chat-completions server on 127.0.0.1, through the whole pipeline."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from harness.core.errors import HarnessError
from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.run import run_suite
from systems.llm.prompts import pointwise_messages

LISTWISE_ANSWERS = ["[2] > [1] > [3]", "[3] > [3] > [9]", "no idea"]


def stub_logprobs(content: str) -> tuple[float, float, float]:
    """Deterministic per-prompt log-probabilities for 'Yes', ' yes' and 'No'."""
    h = sum(map(ord, content))
    return -0.1 - (h % 7) / 2, -3.0 - (h % 3), -0.5 - (h % 5) / 3


class Stub(BaseHTTPRequestHandler):
    requests: ClassVar[list] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Stub.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if not self.path.endswith("/v1/chat/completions"):
            self.send_error(404)
            return
        content = body["messages"][-1]["content"]
        choice: dict = {"index": 0, "finish_reason": "stop"}
        if body.get("logprobs") and "/nologprobs/" not in self.path:
            yes, yes2, no = stub_logprobs(content)
            top = [
                {"token": "Yes", "logprob": yes},
                {"token": " yes", "logprob": yes2},
                {"token": "No", "logprob": no},
                {"token": "Maybe", "logprob": -6.0},
            ]
            choice["message"] = {"role": "assistant", "content": "Yes"}
            choice["logprobs"] = {"content": [{"token": "Yes", "logprob": yes, "top_logprobs": top}]}
        else:
            n_listwise = sum(1 for r in Stub.requests if not r["body"].get("logprobs"))
            choice["message"] = {"role": "assistant", "content": LISTWISE_ANSWERS[(n_listwise - 1) % 3]}
        payload = json.dumps({"id": "x", "object": "chat.completion", "choices": [choice]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def server():
    Stub.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


SUITE = """
metrics = ["nDCG@10"]
[datasets.cranfield]
id = "cranfield"
[systems.first]
kind = "run-file"
paths = {{ cranfield = "first.run" }}
[systems.pointwise]
kind = "llm-pointwise"
first_stage = "first"
depth = 3
backend = "openai"
base_url = "{url}/v1"
model = "stub-model"
api_key_env = "IRH_STUB_KEY"
[systems.listwise]
kind = "llm-listwise"
first_stage = "first"
depth = 3
backend = "openai"
base_url = "{url}/v1"
model = "stub-model"
window = 3
step = 2
"""


def _suite(tmp_path: Path, url: str):
    (tmp_path / "first.run").write_text(
        "1 Q0 184 1 3.0 f\n1 Q0 29 2 2.0 f\n1 Q0 31 3 1.0 f\n1 Q0 57 4 0.5 f\n"
        "2 Q0 12 1 3.0 f\n2 Q0 13 2 2.0 f\n2 Q0 14 3 1.0 f\n"
    )
    (tmp_path / "s.toml").write_text(SUITE.format(url=url))
    store = Store(tmp_path / "results")
    return load_suite(tmp_path / "s.toml", digest_dir=str(store.digests_dir)), store


def test_openai_backend_pointwise_and_listwise(irds_home: Path, tmp_path: Path, server: str, monkeypatch) -> None:
    monkeypatch.setenv("IRH_STUB_KEY", "sekret")
    suite, store = _suite(tmp_path, server)
    outcomes = run_suite(suite, results=store).outcomes
    keys = {o.label: o.key for o in outcomes}
    assert {o.status for o in outcomes} == {"computed"}

    # pointwise: score = logsumexp(Yes, yes) − No, per pair, from exactly the prompt the reranker builds
    dataset = suite.datasets[0]
    queries, texts = dataset.queries(), dataset.doc_texts(["184", "29", "31", "12", "13", "14"])
    pointwise = store.load_run(keys["cranfield/pointwise"])
    for qid, did in [("1", "184"), ("1", "31"), ("2", "14")]:
        yes, yes2, no = stub_logprobs(pointwise_messages(queries[qid], texts[did], 100)[-1]["content"])
        expected = math.log(math.exp(yes) + math.exp(yes2)) - no
        assert pointwise.scores[qid][did] == pytest.approx(expected, abs=1e-9)
    assert pointwise.n_pairs() == 6  # depth 3 of the 4 + 3 candidates
    scoring = [r for r in Stub.requests if r["body"].get("logprobs")]
    assert len(scoring) == 6
    assert all(r["auth"] == "Bearer sekret" and r["body"]["model"] == "stub-model" for r in scoring)
    assert all(r["body"]["max_tokens"] == 1 for r in scoring)
    audit = (store.run_files_dir(keys["cranfield/pointwise"]) / "llm_pointwise.jsonl").read_text().splitlines()
    assert len(audit) == 6 and {"qid", "docid", "logp_yes", "logp_no"} <= json.loads(audit[0]).keys()

    # listwise: one window of 3 per query; answers "[2] > [1] > [3]" then "[3] > [3] > [9]"
    listwise = store.load_run(keys["cranfield/listwise"])
    assert [d for d, _ in listwise.ranked("1")] == ["29", "184", "31"]
    assert [d for d, _ in listwise.ranked("2")] == ["14", "12", "13"]
    meta = store.meta("runs", keys["cranfield/listwise"])
    assert meta["rerank"]["windows"] == 2 and meta["rerank"]["windows_repaired"] == 1
    assert meta["rerank"]["repairs"] == {
        "no_ids": 0,
        "bad_format": 0,
        "duplicate_ids": 1,
        "out_of_range_ids": 1,
        "missing_ids": 2,
    }
    assert meta["llm"]["backend"] == "openai" and meta["llm"]["prompt_version"]
    raw = (store.run_files_dir(keys["cranfield/listwise"]) / "llm_listwise.jsonl").read_text().splitlines()
    assert [json.loads(line)["response"] for line in raw] == LISTWISE_ANSWERS[:2]

    # a second run is served from the store; the server is not asked again
    n_requests = len(Stub.requests)
    outcomes = run_suite(suite, results=store).outcomes
    assert {o.status for o in outcomes} == {"cached"} and len(Stub.requests) == n_requests


def test_pointwise_without_logprobs_is_a_clear_error(irds_home: Path, tmp_path: Path, server: str) -> None:
    suite, store = _suite(tmp_path, server + "/nologprobs")
    with pytest.raises(HarnessError, match="returned no logprobs"):
        run_suite(suite, results=store, only=["cranfield/pointwise"])
    assert not list(store.entries("runs"))[1:]  # only the first stage was stored


def test_unreachable_server_is_a_clear_error(irds_home: Path, tmp_path: Path) -> None:
    suite, store = _suite(tmp_path, "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(HarnessError, match="unreachable"):
        run_suite(suite, results=store, only=["cranfield/listwise"])
