"""Weir: a data-lake branching gateway (Git semantics under the S3 protocol)."""

__version__ = "0.1.0"
