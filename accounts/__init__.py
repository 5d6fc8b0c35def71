"""Organisations, departments, people, roles, invitations, two-factor and API tokens."""
