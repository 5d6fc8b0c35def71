"""Shared test base: the personas (organisation A with one user per role, organisation B with an outsider),
signed-in HTML and API clients for each, and a real Celery worker on the real Redis broker.

Tests talk to the real PostgreSQL and Redis (make test sets DATABASE_URL and REDIS_URL). Nothing of
ours is mocked; only the clock, e-mail (Django's locmem outbox) and, later, platforms are faked.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field

import pytest
from django.conf import settings
from django.core import mail
from django.core.cache import cache

from accounts import services
from accounts.middleware import SESSION_LAST_SEEN
from accounts.models import Department, Membership, Organisation, User
from accounts.roles import Role
from audit.context import ActionContext, acting

pytest_plugins = ["tests.sim_plugin"]

PASSWORD = "correct horse battery staple 42"
ROLES = [role.value for role in Role]


def pytest_configure(config):
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(
            "The tests run against PostgreSQL, never SQLite. Use `make test`, or set DATABASE_URL=postgres://…"
        )
    # One queue per test run, so two runs on one Redis never take each other's tasks.
    settings.CELERY_TASK_DEFAULT_QUEUE = f"civicdesk-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    from smm.celery import app

    app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "http://testserver"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    mail.outbox = []
    cache.clear()  # cached figures are keyed by database ids, which the next test reuses


@dataclass
class Org:
    organisation: Organisation
    departments: dict[str, Department]
    members: dict[str, Membership] = field(default_factory=dict)

    def user(self, role: str) -> User:
        return self.members[role].user


@dataclass
class Personas:
    a: Org
    b: Org

    @property
    def outsider(self) -> Membership:
        """Organisation B's admin: sees everything of B and must see nothing of A."""
        return self.b.members["admin"]


def make_organisation(slug: str, name: str, department_names: list[str], two_factor_policy: str = "optional") -> Org:
    with acting(ActionContext(system_actor="system: tests")):
        organisation = services.organisation_create(
            name=name, slug=slug, two_factor_policy=two_factor_policy, department_names=department_names
        )
    departments = {d.name: d for d in Department.objects.filter(organisation=organisation)}
    return Org(organisation=organisation, departments=departments)


def add_member(org: Org, role: str, email: str, departments: list[str]) -> Membership:
    user = User.objects.filter(email=email).first() or User.objects.create_user(email, PASSWORD, full_name=email.split("@")[0].title())
    with acting(ActionContext(system_actor="system: tests")):
        membership = services.member_add(
            organisation=org.organisation, user=user, role=role, departments=[org.departments[n] for n in departments]
        )
    org.members[role] = membership
    return membership


@pytest.fixture
def personas(db) -> Personas:
    a = make_organisation("alpha", "Alpha Council", ["Communications", "Customer Services"])
    departments_for = {
        "admin": [],
        "manager": ["Communications"],
        "approver": ["Communications"],
        "editor": ["Communications"],
        "agent": ["Customer Services"],
        "viewer": ["Communications"],
    }
    for role in ROLES:
        add_member(a, role, f"{role}@alpha.example", departments_for[role])
    b = make_organisation("bravo", "Bravo Police", ["Digital Desk"])
    add_member(b, "admin", "admin@bravo.example", [])
    return Personas(a=a, b=b)


@pytest.fixture
def login(client):
    """login(membership) signs the Django test client in as that member, acting in that organisation."""

    def _login(membership: Membership, the_client=None):
        the_client = the_client or client
        the_client.force_login(membership.user, backend="django.contrib.auth.backends.ModelBackend")
        session = the_client.session
        session["organisation_id"] = membership.organisation_id
        # As after a real sign-in's first page: activity recorded now, so the next request (often a counted one)
        # does not also write the session (last_seen is written at most once a minute).
        session[SESSION_LAST_SEEN] = int(time.time())
        session.save()
        return the_client

    return _login


@pytest.fixture
def api_for(db):
    """api_for(membership) is a DRF client carrying an API token for that member's organisation."""
    from rest_framework.test import APIClient

    def _api(membership: Membership) -> APIClient:
        raw = services.api_token_create(membership=membership)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
        return api

    return _api


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker thread consuming this run's queue on the real Redis broker."""
    from celery.contrib.testing.worker import start_worker

    from smm.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING") as worker:
        yield worker
