"""System families, one module each. KINDS maps a suite's ``kind`` to ``module:Class``; adding a family is adding
a module and a line here. The harness finds KINDS through the ``irharness.systems`` entry point (pyproject.toml),
never by importing this package by name."""

KINDS: dict[str, str] = {
    "bm25": "systems.bm25:BM25",
    "run-file": "systems.imported:RunFile",
    "scoreddocs": "systems.imported:ScoredDocs",
    "dense": "systems.dense:Dense",
    "cross-encoder": "systems.cross_encoder:CrossEncoder",
    "monot5": "systems.monot5:MonoT5",
    "llm-pointwise": "systems.llm_rerank:LLMPointwise",
    "llm-listwise": "systems.llm_rerank:LLMListwise",
    "rrf": "systems.fusion:RRF",
    "score-fusion": "systems.fusion:ScoreFusion",
    "splade": "systems.splade:Splade",
    "colbert": "systems.colbert:ColBERT",
    "colbert-rerank": "systems.colbert:ColBERTRerank",
}
