"""Facetag: self-hosted face tagging."""

__version__ = "0.1.0"
