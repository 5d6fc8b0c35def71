"""Placeholder: filled in by the approvals work (issue 5)."""

urls: list = []
