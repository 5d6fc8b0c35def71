"""A person who works in several organisations: one organisation's admin cannot weaken their account elsewhere.

Two-factor devices and sessions belong to the person, not to one membership, so an admin may reset
them only for someone who works in no other organisation, and deactivating a member in one
organisation leaves their work in the others alone.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from audit.models import AuditEvent, EventType
from tests.conftest import add_member


def reset_url(membership) -> str:
    return reverse("accounts:member_two_factor_reset", args=[membership.pk])


@pytest.fixture
def alpha_admin_also_in_bravo(personas):
    """Alpha's admin, with an authenticator, is also an editor in Bravo."""
    alpha_admin = personas.a.members["admin"]
    in_bravo = add_member(personas.b, "editor", alpha_admin.user.email, ["Digital Desk"])
    TOTPDevice.objects.create(user=alpha_admin.user, name="Authenticator app", confirmed=True)
    StaticDevice.objects.create(user=alpha_admin.user, name="Backup codes", confirmed=True)
    return alpha_admin, in_bravo


def test_admin_cannot_reset_two_factor_of_someone_active_in_another_organisation(personas, alpha_admin_also_in_bravo):
    alpha_admin, in_bravo = alpha_admin_also_in_bravo

    with pytest.raises(ValidationError, match="another organisation"):
        services.two_factor_reset(actor=personas.outsider, membership=in_bravo)

    assert TOTPDevice.objects.filter(user=alpha_admin.user, confirmed=True).exists()
    assert StaticDevice.objects.filter(user=alpha_admin.user).exists()
    assert not AuditEvent.objects.filter(event_type=EventType.TWO_FACTOR_RESET).exists()


def test_reset_refused_on_the_members_page_shows_why_and_keeps_the_devices(
    client, personas, login, alpha_admin_also_in_bravo
):
    alpha_admin, in_bravo = alpha_admin_also_in_bravo
    login(personas.outsider)

    response = client.post(reset_url(in_bravo), follow=True)

    assert response.status_code == 200
    assert "also works in another organisation" in response.content.decode()
    assert TOTPDevice.objects.filter(user=alpha_admin.user, confirmed=True).exists()


def test_reset_is_allowed_once_the_other_membership_is_deactivated_and_is_recorded_there_only(
    personas, alpha_admin_also_in_bravo
):
    alpha_admin, in_bravo = alpha_admin_also_in_bravo
    # Alpha needs another admin before its only one can be deactivated.
    add_member(personas.a, "admin", "second.admin@alpha.example", [])
    services.member_set_active(actor=personas.a.members["admin"], membership=alpha_admin, active=False)

    services.two_factor_reset(actor=personas.outsider, membership=in_bravo)

    assert not TOTPDevice.objects.filter(user=alpha_admin.user).exists()
    events = AuditEvent.objects.filter(event_type=EventType.TWO_FACTOR_RESET)
    assert [(e.organisation, e.actor) for e in events] == [(personas.b.organisation, personas.outsider.user)]


def test_reset_of_a_deactivated_member_is_recorded_in_the_admins_organisation(personas):
    approver = personas.a.members["approver"]
    TOTPDevice.objects.create(user=approver.user, name="Authenticator app", confirmed=True)
    admin = personas.a.members["admin"]
    services.member_set_active(actor=admin, membership=approver, active=False)

    services.two_factor_reset(actor=admin, membership=approver)

    event = AuditEvent.objects.get(event_type=EventType.TWO_FACTOR_RESET)
    # Not "no organisation": the person has no active membership left, but the reset happened in Alpha.
    assert (event.organisation, event.actor, event.target_id) == (admin.organisation, admin.user, str(approver.pk))
