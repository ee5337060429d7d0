"""irharness: batch evaluation and benchmarking for neural information retrieval."""

__version__ = "0.1.0"
