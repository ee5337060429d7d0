"""System families, one module each. KINDS maps a suite's ``kind`` to ``module:Class``; adding a family is adding
a module and a line here."""

KINDS: dict[str, str] = {
    "bm25": "systems.bm25:BM25",
    "run-file": "systems.imported:RunFile",
    "scoreddocs": "systems.imported:ScoredDocs",
}
