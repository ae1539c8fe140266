"""Zyntro Audiences: a self-hosted, fetchAudiences-compatible audience segment server."""

__version__ = "0.1.0"
