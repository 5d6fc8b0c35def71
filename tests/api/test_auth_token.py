"""POST/DELETE /api/v1/auth/token/: exchanging e-mail, password and one-time code for an API token."""

from __future__ import annotations

import pytest
from django.conf import settings
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import ApiToken, token_digest
from audit.models import AuditEvent, EventType
from tests.conftest import PASSWORD, add_member

TOKEN_URL = "/api/v1/auth/token/"
ME_URL = "/api/v1/me/"


def _current_code(device: TOTPDevice) -> str:
    return TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()


def _with_token(raw: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return api


@pytest.fixture
def anonymous_api():
    return APIClient()


@pytest.fixture
def totp_device(personas):
    """The approver of organisation A has a confirmed authenticator app."""
    return TOTPDevice.objects.create(user=personas.a.user("approver"), name="Authenticator app", confirmed=True)


# ------------------------------------------------------------------------------------------- issuing
def test_email_and_password_give_a_token_that_works_on_me(personas, anonymous_api):
    response = anonymous_api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": PASSWORD}, format="json")

    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["organisation"] == "alpha"
    assert body["token"]

    me = _with_token(body["token"]).get(ME_URL)
    assert me.status_code == 200
    assert me.json()["email"] == "editor@alpha.example"
    assert me.json()["role"] == "editor"


def test_email_is_matched_case_insensitively(personas, anonymous_api):
    response = anonymous_api.post(TOKEN_URL, {"email": "Editor@Alpha.Example", "password": PASSWORD}, format="json")

    assert response.status_code == 201
    assert _with_token(response.json()["token"]).get(ME_URL).json()["email"] == "editor@alpha.example"


def test_only_the_sha256_digest_of_the_token_is_stored(personas, anonymous_api):
    raw = anonymous_api.post(TOKEN_URL, {"email": "viewer@alpha.example", "password": PASSWORD}, format="json").json()["token"]

    token = ApiToken.objects.get(user=personas.a.user("viewer"))
    assert token.digest != raw
    assert raw not in token.digest
    assert token.digest == token_digest(raw)
    assert len(token.digest) == 64
    assert not ApiToken.objects.filter(digest=raw).exists()


def test_issuing_a_token_records_api_token_created(personas, anonymous_api):
    anonymous_api.post(TOKEN_URL, {"email": "viewer@alpha.example", "password": PASSWORD}, format="json")

    token = ApiToken.objects.get(user=personas.a.user("viewer"))
    event = AuditEvent.objects.get(event_type=EventType.API_TOKEN_CREATED, target_id=str(token.pk))
    assert event.organisation == personas.a.organisation
    assert event.actor == personas.a.user("viewer")
    assert event.target_type == "accounts.apitoken"


def test_each_request_issues_a_distinct_token(personas, anonymous_api):
    credentials = {"email": "viewer@alpha.example", "password": PASSWORD}
    first = anonymous_api.post(TOKEN_URL, credentials, format="json").json()["token"]
    second = anonymous_api.post(TOKEN_URL, credentials, format="json").json()["token"]

    assert first != second
    assert ApiToken.objects.filter(user=personas.a.user("viewer")).count() == 2
    assert _with_token(first).get(ME_URL).status_code == 200
    assert _with_token(second).get(ME_URL).status_code == 200


# -------------------------------------------------------------------------------------------- refusals
def test_wrong_password_is_401_json_and_issues_nothing(personas, anonymous_api):
    response = anonymous_api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": "not it"}, format="json")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()
    assert not ApiToken.objects.exists()


def test_unknown_email_is_401_json(personas, anonymous_api):
    response = anonymous_api.post(TOKEN_URL, {"email": "nobody@alpha.example", "password": PASSWORD}, format="json")

    assert response.status_code == 401
    assert "detail" in response.json()
    assert not ApiToken.objects.exists()


def test_wrong_password_is_recorded_as_a_failed_sign_in(personas, anonymous_api):
    anonymous_api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": "not it"}, format="json")

    event = AuditEvent.objects.get(event_type=EventType.SIGN_IN_FAILED)
    assert event.organisation == personas.a.organisation
    assert event.changes["email"] == "editor@alpha.example"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": PASSWORD}, "email"),
        ({"email": "editor@alpha.example"}, "password"),
        ({"email": "not-an-address", "password": PASSWORD}, "email"),
        ({"email": "editor@alpha.example", "password": PASSWORD, "organisation": "not a slug!"}, "organisation"),
    ],
)
def test_missing_or_malformed_field_is_400_json_naming_it(personas, anonymous_api, payload, field):
    response = anonymous_api.post(TOKEN_URL, payload, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert "detail" in body
    assert field in body["errors"]
    assert not ApiToken.objects.exists()


def test_inactive_member_gets_no_token(personas, anonymous_api):
    viewer = personas.a.members["viewer"]
    viewer.is_active = False
    viewer.save(update_fields=["is_active"])

    response = anonymous_api.post(TOKEN_URL, {"email": "viewer@alpha.example", "password": PASSWORD}, format="json")

    assert response.status_code == 403
    assert "detail" in response.json()
    assert not ApiToken.objects.exists()




def test_repeated_failures_lock_the_account_out_even_with_the_right_password(personas, anonymous_api):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        anonymous_api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": "guess"}, format="json")

    response = anonymous_api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": PASSWORD}, format="json")

    assert response.status_code == 429
    assert "detail" in response.json()
    assert not ApiToken.objects.exists()


def test_wrong_one_time_codes_count_towards_the_lockout(personas, anonymous_api, totp_device):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        anonymous_api.post(
            TOKEN_URL, {"email": "approver@alpha.example", "password": PASSWORD, "otp": "abcdef"}, format="json"
        )

    response = anonymous_api.post(
        TOKEN_URL,
        {"email": "approver@alpha.example", "password": PASSWORD, "otp": _current_code(totp_device)},
        format="json",
    )

    assert response.status_code == 429
    assert not ApiToken.objects.exists()


def test_changing_the_case_of_the_email_does_not_dodge_the_lockout(personas, anonymous_api):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        email = "EDITOR@alpha.example" if attempt % 2 else "Editor@Alpha.Example"
        anonymous_api.post(TOKEN_URL, {"email": email, "password": "guess"}, format="json")

    response = anonymous_api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": PASSWORD}, format="json")

    assert response.status_code == 429


# ------------------------------------------------------------------------------------------ two-factor
def test_two_factor_user_with_the_current_code_gets_a_token(personas, anonymous_api, totp_device):
    response = anonymous_api.post(
        TOKEN_URL,
        {"email": "approver@alpha.example", "password": PASSWORD, "otp": _current_code(totp_device)},
        format="json",
    )

    assert response.status_code == 201
    me = _with_token(response.json()["token"]).get(ME_URL)
    assert me.status_code == 200
    assert me.json()["two_factor_enabled"] is True


@pytest.mark.parametrize("otp", [None, "", "000000", "abcdef"])
def test_two_factor_user_without_a_valid_code_is_401(personas, anonymous_api, totp_device, otp):
    payload = {"email": "approver@alpha.example", "password": PASSWORD}
    if otp is not None:
        if otp == "000000" and _current_code(totp_device) == "000000":
            otp = "111111"
        payload["otp"] = otp

    response = anonymous_api.post(TOKEN_URL, payload, format="json")

    assert response.status_code == 401
    assert "otp" in response.json()["detail"]
    assert not ApiToken.objects.exists()
    failed = AuditEvent.objects.get(event_type=EventType.SIGN_IN_FAILED)
    assert failed.changes["reason"] == "bad one-time code"


def test_two_factor_code_is_refused_with_a_wrong_password(personas, anonymous_api, totp_device):
    response = anonymous_api.post(
        TOKEN_URL,
        {"email": "approver@alpha.example", "password": "not it", "otp": _current_code(totp_device)},
        format="json",
    )

    assert response.status_code == 401
    assert not ApiToken.objects.exists()


def test_unconfirmed_authenticator_does_not_demand_a_code(personas, anonymous_api):
    TOTPDevice.objects.create(user=personas.a.user("approver"), name="Authenticator app", confirmed=False)

    response = anonymous_api.post(TOKEN_URL, {"email": "approver@alpha.example", "password": PASSWORD}, format="json")

    assert response.status_code == 201


def test_organisation_requiring_two_factor_refuses_a_token_to_an_unenrolled_member(personas, anonymous_api):
    organisation = personas.a.organisation
    organisation.two_factor_policy = "everyone"
    organisation.save(update_fields=["two_factor_policy"])

    response = anonymous_api.post(TOKEN_URL, {"email": "viewer@alpha.example", "password": PASSWORD}, format="json")

    assert response.status_code == 403
    assert "two-factor" in response.json()["detail"]
    assert not ApiToken.objects.exists()


# -------------------------------------------------------------------- tokens in an organisation requiring 2FA
def _require_two_factor(organisation, policy: str = "everyone") -> None:
    organisation.two_factor_policy = policy
    organisation.save(update_fields=["two_factor_policy"])


def test_a_token_issued_with_a_code_is_marked_otp_verified(personas, anonymous_api, totp_device):
    anonymous_api.post(
        TOKEN_URL,
        {"email": "approver@alpha.example", "password": PASSWORD, "otp": _current_code(totp_device)},
        format="json",
    )
    token = ApiToken.objects.get(user=personas.a.user("approver"))
    assert token.otp_verified is True
    assert AuditEvent.objects.get(event_type=EventType.API_TOKEN_CREATED).changes == {"otp_verified": True}


def test_a_token_issued_without_a_code_is_not_otp_verified(personas, anonymous_api):
    anonymous_api.post(TOKEN_URL, {"email": "viewer@alpha.example", "password": PASSWORD}, format="json")
    assert ApiToken.objects.get(user=personas.a.user("viewer")).otp_verified is False


def test_token_from_before_enrolment_stops_working_once_two_factor_is_required_until_reissued_with_a_code(
    personas, anonymous_api
):
    approver = personas.a.user("approver")
    old = anonymous_api.post(TOKEN_URL, {"email": approver.email, "password": PASSWORD}, format="json").json()["token"]
    assert _with_token(old).get(ME_URL).status_code == 200

    _require_two_factor(personas.a.organisation, "privileged")
    assert _with_token(old).get(ME_URL).status_code == 403

    # Enrolling afterwards does not bless the token issued without a code.
    device = TOTPDevice.objects.create(user=approver, name="Authenticator app", confirmed=True)
    refused = _with_token(old).get(ME_URL)
    assert refused.status_code == 403
    assert "one-time code" in refused.json()["detail"]

    new = anonymous_api.post(
        TOKEN_URL, {"email": approver.email, "password": PASSWORD, "otp": _current_code(device)}, format="json"
    ).json()["token"]
    assert _with_token(new).get(ME_URL).status_code == 200
    assert _with_token(old).get(ME_URL).status_code == 403


def test_token_without_a_code_works_where_two_factor_is_optional(personas, api_for):
    assert api_for(personas.a.members["approver"]).get(ME_URL).status_code == 200


def test_session_api_calls_need_the_code_step_where_two_factor_is_required(personas, client, login):
    _require_two_factor(personas.a.organisation)
    TOTPDevice.objects.create(user=personas.a.user("viewer"), name="Authenticator app", confirmed=True)
    login(personas.a.members["viewer"])
    # Signed in without passing the code step: the API refuses, as the pages do.
    assert client.get(ME_URL).status_code == 403


# ------------------------------------------------------------------------------ choosing the organisation
@pytest.fixture
def member_of_both(personas):
    """viewer@alpha.example is also an agent in organisation B (Bravo Police)."""
    add_member(personas.b, "agent", "viewer@alpha.example", ["Digital Desk"])
    return personas.a.user("viewer")


def test_organisation_slug_chooses_where_the_token_acts(personas, anonymous_api, member_of_both):
    credentials = {"email": "viewer@alpha.example", "password": PASSWORD}

    bravo = anonymous_api.post(TOKEN_URL, {**credentials, "organisation": "bravo"}, format="json")
    alpha = anonymous_api.post(TOKEN_URL, {**credentials, "organisation": "alpha"}, format="json")

    assert bravo.status_code == alpha.status_code == 201
    assert bravo.json()["organisation"] == "bravo"
    assert alpha.json()["organisation"] == "alpha"
    bravo_me = _with_token(bravo.json()["token"]).get(ME_URL).json()
    alpha_me = _with_token(alpha.json()["token"]).get(ME_URL).json()
    assert (bravo_me["organisation"]["slug"], bravo_me["role"]) == ("bravo", "agent")
    assert (alpha_me["organisation"]["slug"], alpha_me["role"]) == ("alpha", "viewer")
    bravo_departments = _with_token(bravo.json()["token"]).get("/api/v1/departments/").json()["results"]
    assert [d["name"] for d in bravo_departments] == ["Digital Desk"]
    assert ApiToken.objects.get(digest=token_digest(bravo.json()["token"])).organisation == personas.b.organisation


def test_without_a_slug_the_token_acts_in_the_first_organisation_by_name(personas, anonymous_api, member_of_both):
    response = anonymous_api.post(TOKEN_URL, {"email": "viewer@alpha.example", "password": PASSWORD}, format="json")

    assert response.status_code == 201
    assert response.json()["organisation"] == "alpha"


def test_slug_of_an_organisation_the_user_is_not_in_is_403(personas, anonymous_api):
    response = anonymous_api.post(
        TOKEN_URL, {"email": "viewer@alpha.example", "password": PASSWORD, "organisation": "bravo"}, format="json"
    )

    assert response.status_code == 403
    assert "detail" in response.json()
    assert not ApiToken.objects.exists()


def test_slug_of_an_organisation_where_the_membership_is_deactivated_is_403(personas, anonymous_api, member_of_both):
    personas.b.members["agent"].is_active = False
    personas.b.members["agent"].save(update_fields=["is_active"])

    response = anonymous_api.post(
        TOKEN_URL, {"email": "viewer@alpha.example", "password": PASSWORD, "organisation": "bravo"}, format="json"
    )

    assert response.status_code == 403
    assert not ApiToken.objects.exists()


# -------------------------------------------------------------------------------------------- revoking
def test_delete_revokes_the_token_used_for_the_call(personas, anonymous_api):
    raw = anonymous_api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": PASSWORD}, format="json").json()["token"]
    api = _with_token(raw)
    assert api.get(ME_URL).status_code == 200

    response = api.delete(TOKEN_URL)

    assert response.status_code == 204
    assert not ApiToken.objects.filter(digest=token_digest(raw)).exists()
    after = api.get(ME_URL)
    assert after.status_code == 401
    assert "detail" in after.json()


def test_revoking_records_api_token_revoked(personas, anonymous_api):
    raw = anonymous_api.post(TOKEN_URL, {"email": "editor@alpha.example", "password": PASSWORD}, format="json").json()["token"]
    token_pk = ApiToken.objects.get(digest=token_digest(raw)).pk

    _with_token(raw).delete(TOKEN_URL)

    event = AuditEvent.objects.get(event_type=EventType.API_TOKEN_REVOKED)
    assert event.organisation == personas.a.organisation
    assert event.actor == personas.a.user("editor")
    assert f"API token {token_pk}" in event.target_repr


def test_revoking_one_token_leaves_the_others_working(personas, api_for):
    editor = personas.a.members["editor"]
    kept, revoked = api_for(editor), api_for(editor)

    assert revoked.delete(TOKEN_URL).status_code == 204

    assert revoked.get(ME_URL).status_code == 401
    assert kept.get(ME_URL).status_code == 200


def test_delete_without_a_token_is_401_and_revokes_nothing(personas, api_for, anonymous_api):
    api_for(personas.a.members["editor"])

    response = anonymous_api.delete(TOKEN_URL)

    assert response.status_code == 401
    assert "detail" in response.json()
    assert ApiToken.objects.count() == 1
    assert not AuditEvent.objects.filter(event_type=EventType.API_TOKEN_REVOKED).exists()


def test_delete_with_an_already_revoked_token_is_401(personas, api_for):
    api = api_for(personas.a.members["editor"])
    api.delete(TOKEN_URL)

    response = api.delete(TOKEN_URL)

    assert response.status_code == 401
    assert AuditEvent.objects.filter(event_type=EventType.API_TOKEN_REVOKED).count() == 1
