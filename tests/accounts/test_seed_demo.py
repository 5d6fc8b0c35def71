"""seed_demo: the demo organisations, departments and one user per role, idempotent, signing in with DEMO_PASSWORD."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import Department, Membership, Organisation, TwoFactorPolicy, User
from audit.models import AuditEvent
from tests.conftest import ROLES

LOGIN = reverse("accounts:login")
HOME = reverse("home")
DEMO_PASSWORD = "a demo passphrase for tests 77"


@pytest.fixture
def seeded(db, settings) -> str:
    settings.DEMO_PASSWORD = DEMO_PASSWORD
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        "organisations": Organisation.objects.count(),
        "departments": Department.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
        "devices": TOTPDevice.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def test_creates_demo_council_with_its_departments(seeded):
    council = Organisation.objects.get(slug="demo-council")
    assert council.name == "Demo Council"
    assert council.two_factor_policy == TwoFactorPolicy.OPTIONAL
    assert sorted(council.departments.values_list("name", flat=True)) == [
        "Communications",
        "Customer Services",
        "Waste & Recycling",
    ]


def test_creates_demo_police_requiring_two_factor_for_admins(seeded):
    police = Organisation.objects.get(slug="demo-police")
    assert police.name == "Demo Police"
    assert sorted(police.departments.values_list("name", flat=True)) == ["Corporate Communications", "Digital Desk"]
    assert police.two_factor_policy == TwoFactorPolicy.PRIVILEGED
    assert police.requires_two_factor("admin")
    assert not police.requires_two_factor("agent")


@pytest.mark.parametrize(("domain", "slug"), [("council.example", "demo-council"), ("police.example", "demo-police")])
def test_creates_one_user_per_role(seeded, domain, slug):
    memberships = Membership.objects.filter(organisation__slug=slug).select_related("user")
    assert sorted((m.user.email, m.role) for m in memberships) == sorted((f"{r}@{domain}", r) for r in ROLES)
    assert all(m.is_active for m in memberships)
    admin = memberships.get(role="admin")
    assert admin.sees_all_departments
    # Everyone else works in at least one department of their own organisation.
    for membership in memberships.exclude(role="admin"):
        departments = list(membership.departments.all())
        assert departments
        assert {d.organisation.slug for d in departments} == {slug}


def test_running_it_twice_changes_nothing(seeded):
    before = counts()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert counts() == before
    assert before["organisations"] == 2
    assert before["users"] == 12
    assert before["departments"] == 5


def test_running_it_twice_keeps_the_same_two_factor_secret(seeded):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    secret = services.totp_secret(services.confirmed_totp(User.objects.get(email="admin@police.example")))
    assert secret in seeded
    assert secret in out.getvalue()


def test_prints_the_police_admins_totp_secret(seeded):
    admin = User.objects.get(email="admin@police.example")
    device = services.confirmed_totp(admin)
    assert device is not None
    secret = services.totp_secret(device)
    lines = [line for line in seeded.splitlines() if "admin@police.example" in line and secret in line]
    assert lines
    # Council members (optional policy) get no authenticator.
    assert services.confirmed_totp(User.objects.get(email="admin@council.example")) is None


def test_prints_every_demo_sign_in(seeded):
    for domain in ["council.example", "police.example"]:
        for role in ROLES:
            assert f"{role}@{domain}" in seeded


def test_demo_password_setting_signs_in(seeded):
    client = Client()
    response = client.post(LOGIN, {"email": "editor@council.example", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == HOME
    home = client.get(HOME)
    assert home.status_code == 200
    assert home.wsgi_request.membership.organisation.slug == "demo-council"


def test_default_demo_password_does_not_sign_in_when_the_setting_differs(seeded):
    response = Client().post(LOGIN, {"email": "editor@council.example", "password": "civic-desk-demo-2026"})
    assert response.status_code == 200


def test_police_admin_signs_in_with_demo_password_and_the_printed_secret(seeded):
    admin = User.objects.get(email="admin@police.example")
    device = services.confirmed_totp(admin)
    client = Client()
    response = client.post(LOGIN, {"email": "admin@police.example", "password": DEMO_PASSWORD})
    assert response["Location"].startswith(reverse("accounts:sign_in_code"))
    code = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()

    response = client.post(reverse("accounts:sign_in_code"), {"code": f"{code:06d}"})

    assert response["Location"] == HOME
    home = client.get(HOME)
    assert home.status_code == 200
    assert home.wsgi_request.user == admin
    assert home.wsgi_request.user.is_verified()


def test_second_run_does_not_reset_a_changed_password(seeded):
    user = User.objects.get(email="viewer@council.example")
    user.set_password("changed by the person 12345")
    user.save()
    call_command("seed_demo", stdout=StringIO())
    user.refresh_from_db()
    assert user.check_password("changed by the person 12345")


def test_output_names_the_demo_password_so_the_sign_ins_are_complete(seeded):
    assert f"Password of every demo user: {DEMO_PASSWORD}" in seeded
