"""Training rerankers and late-interaction retrievers: ``irh train CONFIG.toml``.

config   TOML training configs (``suites/train/*.toml``), validated like suites (errors name file, line, field)
data     training examples from ir_datasets: train-split queries + qrels, hard negatives mined from any first stage
         run through the harness (cached like every run), optional teacher scores (z-normalised mean of systems)
losses   the objectives, each a small pure torch function
models   the trainable models, saved in the layouts ``cross-encoder`` and ``colbert`` load as ``path`` models
trainer  the loop: fixed seeds, gradient accumulation, atomic resumable checkpoints, a model card with a digest
"""
