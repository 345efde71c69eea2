"""harness: offline information-retrieval evaluation and benchmarking."""

__version__ = "0.1.0"
