"""Helpers of the LLM rerankers (systems/llm_rerank.py): prompts, permutation parsing, backends, GGUF conversion."""
