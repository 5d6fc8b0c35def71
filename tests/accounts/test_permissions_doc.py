"""docs/permissions.md is the written matrix; accounts/roles.py enforces it. They must agree."""

from __future__ import annotations

import re
from pathlib import Path

from accounts.roles import MATRIX, Capability, Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def documented_matrix() -> dict[str, set[str]]:
    lines = [line for line in DOC.read_text().splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    roles = header[1:]
    matrix = {}
    for line in lines[1:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        match = re.search(r"\(`([a-z_]+)`\)", cells[0])
        assert match, f"row without a capability code: {line}"
        matrix[match.group(1)] = {role for role, mark in zip(roles, cells[1:], strict=True) if mark == "✓"}
    return matrix


def test_permissions_doc_lists_every_role_as_a_column():
    header = DOC.read_text().split("| Capability |", 1)[1].splitlines()[0]
    assert [cell.strip() for cell in header.strip("|").split("|")] == [role.label for role in Role]


def test_permissions_doc_matches_the_enforced_matrix():
    expected = {cap.value: {role.label for role in MATRIX[cap]} for cap in Capability}
    assert documented_matrix() == expected
