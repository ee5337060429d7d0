"""Where an LLM reranker's model runs: in process through transformers, or behind an OpenAI-compatible server.

Both answer the two questions the rerankers ask: ``yes_no(prompts)`` → (log P(yes), log P(no)) of the first answer
token, and ``generate(messages)`` → the greedy answer text.
"""

from __future__ import annotations

import json
import math
import os
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from harness.core.errors import HarnessError
from systems.llm.prompts import NO_WORDS, YES_WORDS


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


# credentials a server may echo back in an error body (or a URL may carry): the value after one of these is hidden
SECRET_PATTERNS = (
    re.compile(r"(?i)(\bbearer\s+)[^\s\"',;]+"),
    re.compile(
        r"(?i)((?:api[_-]?key|access[_-]?token|token|secret|password|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&}]+"
    ),
    re.compile(r"(//)[^/@\s]+(?=@)"),  # user:password@host
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{8,}"),  # OpenAI-style keys wherever they appear
)
REDACTED = "[REDACTED]"


def redact(text: str, secrets: Sequence[str | None] = ()) -> str:
    """``text`` with the given secret values and anything that looks like a bearer token or API key replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class TransformersBackend:
    """A causal LM in this process (fp32 on CPU); GGUF files are converted once (systems.llm.loading)."""

    def __init__(self, source: str, artifacts_dir: Path, device: str, dtype: str, threads: int):
        import torch

        from harness.models.encoding import select_device, select_dtype
        from harness.models.resolve import resolve_model
        from systems.llm.loading import load_causal_lm

        torch.set_num_threads(threads)
        self.ref = resolve_model(source)
        self.device = select_device(device)
        self.model, self.tokenizer, self.converted = load_causal_lm(
            self.ref, artifacts_dir, self.device, select_dtype(dtype, self.device)
        )
        self.yes_ids = self._first_token_ids(YES_WORDS)
        self.no_ids = self._first_token_ids(NO_WORDS)

    def _first_token_ids(self, words: Sequence[str]) -> list[int]:
        ids = {self.tokenizer.encode(w, add_special_tokens=False)[0] for w in words}
        return sorted(ids)

    def _prompt_ids(self, messages: list[dict]) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _pad_left(self, rows: list[list[int]]):
        import torch

        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        # positions count real tokens only, so a left-padded row is computed exactly as the same row alone
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids, mask, positions

    def yes_no(self, prompts: Sequence[list[dict]], batch_size: int) -> list[tuple[float, float]]:
        """(log P(yes), log P(no)) of the first answer token; each answer's case variants summed (log-sum-exp)."""
        import torch

        encoded = [self._prompt_ids(m) for m in prompts]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))  # longest first: minimal padding
        out: list[tuple[float, float]] = [(0.0, 0.0)] * len(encoded)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                ids, mask, positions = self._pad_left([encoded[i] for i in rows])
                logits = self.model(
                    input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1
                ).logits[:, -1]
                logp = logits.float().log_softmax(-1)
                yes = torch.logsumexp(logp[:, self.yes_ids], -1).tolist()
                no = torch.logsumexp(logp[:, self.no_ids], -1).tolist()
                for i, y, n in zip(rows, yes, no, strict=True):
                    out[i] = (y, n)
        return out

    def generate(self, messages: list[dict], max_new_tokens: int) -> str:
        import torch

        ids = torch.tensor([self._prompt_ids(messages)], device=self.device)
        with torch.inference_mode():
            generated = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        return self.tokenizer.decode(generated[0, ids.shape[1] :], skip_special_tokens=True)

    def describe(self) -> dict:
        return {"backend": "transformers", "model": self.ref.source, "digest": self.ref.digest}


class LlamaCppBackend:
    """A GGUF file run natively by llama.cpp (llama-cpp-python) in this process, on its own quantised weights.

    On CPU it is faster than de-quantised fp32 in transformers (quantised matmuls, no padding; measured on
    Qwen2.5-0.5B: 1.6× pointwise, 7× listwise). Prompts are rendered with the chat template stored in the GGUF and
    evaluated one at a time, each from an empty KV cache so that every answer is independent of the ones before.
    """

    N_CTX = 8192

    def __init__(self, source: str, threads: int):
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError:
            raise HarnessError("backend = 'llama-cpp' needs: pip install 'irharness[llama-cpp]'") from None
        from harness.models.resolve import resolve_model
        from systems.llm.loading import gguf_file

        self.ref = resolve_model(source)
        gguf = gguf_file(self.ref.path)
        if gguf is None:
            raise HarnessError(f"{source}: backend = 'llama-cpp' needs a GGUF file, found a Hugging Face folder")
        self.version = llama_cpp.__version__
        self.llm = llama_cpp.Llama(
            str(gguf), n_ctx=self.N_CTX, n_threads=threads, n_threads_batch=threads, verbose=False
        )
        meta = self.llm.metadata
        if "tokenizer.chat_template" not in meta:
            raise HarnessError(f"{source}: the GGUF file carries no chat template")
        model = self.llm._model
        self.format = Jinja2ChatFormatter(
            template=meta["tokenizer.chat_template"],
            eos_token=model.token_get_text(model.token_eos()),
            bos_token=model.token_get_text(model.token_bos()) if model.token_bos() != -1 else "",
        )
        self.yes_ids = self._first_token_ids(YES_WORDS)
        self.no_ids = self._first_token_ids(NO_WORDS)

    def _first_token_ids(self, words: Sequence[str]) -> list[int]:
        return sorted({self.llm.tokenize(w.encode(), add_bos=False)[0] for w in words})

    def _prompt_ids(self, messages: list[dict]) -> list[int]:
        # like transformers' apply_chat_template: the template writes any BOS itself, special tokens are parsed
        text = self.format(messages=messages).prompt
        ids = self.llm.tokenize(text.encode(), add_bos=False, special=True)
        if len(ids) >= self.N_CTX:
            raise HarnessError(f"prompt of {len(ids)} tokens exceeds llama.cpp context {self.N_CTX}; lower max_words")
        return ids

    def _eval_from_scratch(self, ids: list[int]) -> None:
        # Never reuse the KV cache of an earlier prompt's shared prefix: llama.cpp's numbers depend on how a prompt is
        # split into batches (measured: log-odds moved by 0.05), so an answer would depend on the previous prompt.
        self.llm.reset()
        self.llm.eval(ids)

    def yes_no(self, prompts: Sequence[list[dict]], batch_size: int) -> list[tuple[float, float]]:
        import numpy as np

        out = []
        n_vocab = self.llm.n_vocab()
        for messages in prompts:
            self._eval_from_scratch(self._prompt_ids(messages))
            logits = np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(-1), shape=(n_vocab,)).astype(np.float64)
            top = logits.max()
            logp = logits - (top + np.log(np.exp(logits - top).sum()))
            out.append((_logsumexp(logp[self.yes_ids].tolist()), _logsumexp(logp[self.no_ids].tolist())))
        return out

    def generate(self, messages: list[dict], max_new_tokens: int) -> str:
        # temperature 0 is llama.cpp's greedy sampler; no repetition penalty, as in transformers' greedy decoding
        self.llm.reset()  # no prefix reuse (see _eval_from_scratch)
        answer = self.llm.create_completion(
            self._prompt_ids(messages), max_tokens=max_new_tokens, temperature=0.0, repeat_penalty=1.0
        )
        return answer["choices"][0]["text"]

    def describe(self) -> dict:
        return {"backend": "llama-cpp", "model": self.ref.source, "digest": self.ref.digest, "llama_cpp": self.version}


class OpenAIBackend:
    """Any server with the OpenAI chat-completions API (vLLM, llama.cpp server, TGI, ...), at ``base_url``."""

    TOP_LOGPROBS = 20

    def __init__(self, base_url: str, model: str, api_key_env: str, timeout: float):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = os.environ.get(api_key_env) if api_key_env else None
        self.timeout = timeout
        self.not_in_top_logprobs = 0  # answers whose yes or no token was not among the top logprobs

    def _post(self, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            self.url, data=json.dumps({"model": self.model, **body}).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            # redacted before it is cut: a cut must not leave the first half of a key behind
            detail = redact(e.read(65536).decode("utf-8", "replace"), [self.api_key])
            self._fail(f"answered HTTP {e.code}: {' '.join(detail.split())[:200]}")
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            self._fail(f"unreachable: {getattr(e, 'reason', e)}")
        except json.JSONDecodeError:
            self._fail("did not answer JSON")

    def _fail(self, what: str) -> NoReturn:
        raise HarnessError(redact(f"LLM server {self.url} {what}", [self.api_key])) from None

    def yes_no(self, prompts: Sequence[list[dict]], batch_size: int) -> list[tuple[float, float]]:
        out = []
        for messages in prompts:
            answer = self._post(
                {
                    "messages": messages,
                    "max_tokens": 1,
                    "temperature": 0,
                    "logprobs": True,
                    "top_logprobs": self.TOP_LOGPROBS,
                }
            )
            try:
                top = answer["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            except (KeyError, IndexError, TypeError):
                raise HarnessError(
                    f"LLM server {self.url} returned no logprobs; pointwise reranking needs a server that does "
                    "(top_logprobs in chat completions), or use the listwise reranker"
                ) from None
            out.append(self._yes_no_from(top))
        return out

    def _yes_no_from(self, top: list[dict]) -> tuple[float, float]:
        floor = min(t["logprob"] for t in top)  # an answer missing from the top-k is at most this likely
        result = []
        for words in (YES_WORDS, NO_WORDS):
            values = [t["logprob"] for t in top if t["token"].strip() in words]
            if not values:
                self.not_in_top_logprobs += 1
                values = [floor]
            result.append(_logsumexp(values))
        return result[0], result[1]

    def generate(self, messages: list[dict], max_new_tokens: int) -> str:
        answer = self._post({"messages": messages, "max_tokens": max_new_tokens, "temperature": 0})
        try:
            return answer["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise HarnessError(f"LLM server {self.url} answered without choices[0].message.content") from None

    def describe(self) -> dict:
        return {"backend": "openai", "url": self.url, "model": self.model}
