"""Versioned prompts of the LLM rerankers. The version and the template text are part of every fingerprint, so a
prompt change can never reuse runs made with the old prompt. Bump PROMPT_VERSION whenever a template changes."""

from __future__ import annotations

PROMPT_VERSION = "2025-1"

POINTWISE_USER = (
    "Passage: {passage}\n\n"
    "Query: {query}\n\n"
    "Is this passage relevant to the query, i.e. does it answer it? Answer with only Yes or No."
)
# first tokens whose probabilities are summed (log-sum-exp) for each answer: the models answer in either case
YES_WORDS = ("Yes", "yes")
NO_WORDS = ("No", "no")

LISTWISE_SYSTEM = (
    "You are RankGPT, an intelligent assistant that can rank passages based on their relevancy to the query."
)
LISTWISE_PREFIX = (
    "I will provide you with {num} passages, each indicated by a numerical identifier []. "
    "Rank the passages based on their relevance to the search query: {query}.\n\n"
)
LISTWISE_PASSAGE = "[{rank}] {passage}\n"
LISTWISE_SUFFIX = (
    "\nSearch Query: {query}.\n"
    "Rank the {num} passages above based on their relevance to the search query. All the passages should be "
    "included and listed using identifiers, in descending order of relevance. The output format should be [] > [], "
    "e.g., [2] > [1]. Only respond with the ranking results, do not say any word or explain."
)


def fingerprint(kind: str) -> dict:
    """What of the prompts a run depends on (goes into content_digests)."""
    if kind == "pointwise":
        return {"version": PROMPT_VERSION, "user": POINTWISE_USER, "yes": YES_WORDS, "no": NO_WORDS}
    return {
        "version": PROMPT_VERSION,
        "system": LISTWISE_SYSTEM,
        "prefix": LISTWISE_PREFIX,
        "passage": LISTWISE_PASSAGE,
        "suffix": LISTWISE_SUFFIX,
    }


def truncate_words(text: str, max_words: int) -> str:
    words = text.split()
    return " ".join(words[:max_words])


def pointwise_messages(query: str, passage: str, max_words: int) -> list[dict]:
    return [{"role": "user", "content": POINTWISE_USER.format(passage=truncate_words(passage, max_words), query=query)}]


def listwise_messages(query: str, passages: list[str], max_words: int) -> list[dict]:
    body = "".join(
        LISTWISE_PASSAGE.format(rank=i, passage=truncate_words(p, max_words)) for i, p in enumerate(passages, 1)
    )
    user = (
        LISTWISE_PREFIX.format(num=len(passages), query=query)
        + body
        + LISTWISE_SUFFIX.format(num=len(passages), query=query)
    )
    return [{"role": "system", "content": LISTWISE_SYSTEM}, {"role": "user", "content": user}]
