"""Ingestion tasks: beat's sweep of due channels and one poll per channel (issue 4 §1)."""

__all__: list[str] = []
