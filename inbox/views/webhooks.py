"""Placeholder: filled in by the inbox work (issue 4)."""

urls: list = []
