"""Pages that show or take secrets (passwords, one-time codes, TOTP secrets, backup codes, invitation
links) tell browsers and proxies never to keep a copy: Cache-Control no-store, private."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from tests.conftest import PASSWORD


def assert_not_cached(response) -> None:
    cache_control = response.get("Cache-Control", "")
    assert "no-store" in cache_control and "private" in cache_control, cache_control


@pytest.mark.django_db
def test_sign_in_page_is_not_cached(client):
    assert_not_cached(client.get(reverse("accounts:login")))


def test_sign_in_answer_is_not_cached(client, personas):
    assert_not_cached(client.post(reverse("accounts:login"), {"email": "editor@alpha.example", "password": PASSWORD}))


def test_code_step_is_not_cached(client, personas):
    TOTPDevice.objects.create(user=personas.a.user("approver"), name="Authenticator app", confirmed=True)
    client.post(reverse("accounts:login"), {"email": "approver@alpha.example", "password": PASSWORD})

    response = client.get(reverse("accounts:sign_in_code"))

    assert response.status_code == 200
    assert_not_cached(response)


def test_enrolment_page_showing_the_secret_is_not_cached(client, personas, login):
    login(personas.a.members["editor"])
    response = client.get(reverse("accounts:two_factor"))
    assert "secret" in response.context
    assert_not_cached(response)


def test_backup_codes_are_not_cached(client, personas, login):
    editor = personas.a.members["editor"]
    login(editor)
    device = services.two_factor_enrol_start(user=editor.user)
    code = f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"
    # Enrolling on the page verifies this session and shows the first codes.
    enrolled = client.post(reverse("accounts:two_factor"), {"code": code})
    assert enrolled.context["codes"]
    assert_not_cached(enrolled)

    regenerated = client.post(reverse("accounts:backup_codes"))

    assert regenerated.context["codes"]
    assert_not_cached(regenerated)
    assert_not_cached(client.get(reverse("accounts:two_factor")))


def test_invitation_page_is_not_cached(client, personas):
    _, raw_token = services.invitation_create(
        actor=personas.a.members["admin"], email="new.person@alpha.example", role="viewer", departments=[]
    )
    response = client.get(reverse("accounts:invitation_accept", args=[raw_token]))
    assert response.status_code == 200
    assert_not_cached(response)
    assert_not_cached(client.get(reverse("accounts:invitation_accept", args=["not-a-real-token"])))
