"""Roles and what each may do: the one place the permission matrix lives.

docs/permissions.md shows this matrix as a table; tests/accounts/test_permissions_doc.py fails when
the two disagree. Views, API viewsets and services ask `membership.can(Capability.X)`; nothing else
compares role names.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MANAGER = "manager", "Manager"
    APPROVER = "approver", "Approver"
    EDITOR = "editor", "Editor"
    AGENT = "agent", "Agent"
    VIEWER = "viewer", "Viewer"


class Capability(models.TextChoices):
    VIEW = "view", "See the organisation's channels, conversations and posts (own departments)"
    MANAGE_ORGANISATION = "manage_organisation", "Change organisation and security settings"
    MANAGE_MEMBERS = "manage_members", "Invite, change and deactivate members"
    MANAGE_DEPARTMENTS = "manage_departments", "Create, rename and archive departments"
    MANAGE_CHANNELS = "manage_channels", "Connect and disconnect channels (own departments)"
    VIEW_DASHBOARDS = "view_dashboards", "See KPI dashboards and reports (own departments)"
    VIEW_AUDIT = "view_audit", "Read and export the audit trail (own departments)"
    MANAGE_POLICIES = "manage_policies", "Set approval policies and publishing pauses"
    APPROVE_POSTS = "approve_posts", "Approve or reject posts (own departments)"
    EDIT_POSTS = "edit_posts", "Draft and submit posts (own departments)"
    BREAK_GLASS = "break_glass", "Publish without approval in an emergency, giving a reason"
    WORK_INBOX = "work_inbox", "Reply, assign, tag and close conversations (own departments)"
    APPROVE_REPLIES = "approve_replies", "Approve replies that need approval (own departments)"
    MANAGE_INBOX = "manage_inbox", "Set service levels, office hours, saved replies and risk keywords (own departments)"


_ALL = set(Role)

MATRIX: dict[Capability, frozenset[Role]] = {
    Capability.VIEW: frozenset(_ALL),
    Capability.MANAGE_ORGANISATION: frozenset({Role.ADMIN}),
    Capability.MANAGE_MEMBERS: frozenset({Role.ADMIN}),
    Capability.MANAGE_DEPARTMENTS: frozenset({Role.ADMIN}),
    Capability.MANAGE_CHANNELS: frozenset({Role.ADMIN, Role.MANAGER}),
    Capability.VIEW_DASHBOARDS: frozenset({Role.ADMIN, Role.MANAGER}),
    Capability.VIEW_AUDIT: frozenset({Role.ADMIN, Role.MANAGER}),
    Capability.MANAGE_POLICIES: frozenset({Role.ADMIN, Role.MANAGER}),
    Capability.APPROVE_POSTS: frozenset({Role.ADMIN, Role.APPROVER}),
    Capability.EDIT_POSTS: frozenset({Role.ADMIN, Role.EDITOR}),
    Capability.BREAK_GLASS: frozenset({Role.ADMIN}),
    Capability.WORK_INBOX: frozenset({Role.ADMIN, Role.AGENT}),
    Capability.APPROVE_REPLIES: frozenset({Role.ADMIN, Role.MANAGER}),
    Capability.MANAGE_INBOX: frozenset({Role.ADMIN, Role.MANAGER}),
}

# Roles whose members see every department of the organisation; the others see their own.
ORGANISATION_WIDE_ROLES = frozenset({Role.ADMIN})

# Roles counted as "privileged" by the organisation's two-factor policy.
PRIVILEGED_ROLES = frozenset({Role.ADMIN, Role.APPROVER})


def role_can(role: str, capability: Capability) -> bool:
    return Role(role) in MATRIX[capability]
