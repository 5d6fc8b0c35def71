"""Journeys through the real site in Chromium; every page on the way passes keyboard, axe and 320 px checks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Invitation, Membership
from tests.browser.checks import check_page
from tests.browser.flows import confirmed_authenticator, link_in, path_of, sign_in, wait_for_email
from tests.conftest import PASSWORD, Org, add_member, make_organisation

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin@northdale.example"
NEWCOMER_EMAIL = "sam.newcomer@northdale.example"
NEWCOMER_PASSWORD = "plum tractor lighthouse 1987"


@dataclass
class Council:
    org: Org
    admin: Membership
    authenticator: TOTPDevice  # the admin's authenticator app, already set up


@pytest.fixture
def northdale(transactional_db) -> Council:
    """A council that requires two-factor for admins (and approvers), and its admin."""
    org = make_organisation(
        "northdale", "Northdale Council", ["Communications", "Customer Services"], two_factor_policy="privileged"
    )
    admin = add_member(org, "admin", ADMIN_EMAIL, [])
    return Council(org=org, admin=admin, authenticator=confirmed_authenticator(admin.user))


def test_admin_signs_in_with_a_code_invites_a_member_who_joins_and_signs_in(
    new_page, live_server, celery_worker, northdale
):
    admin = new_page()
    sign_in(admin, ADMIN_EMAIL, PASSWORD, authenticator=northdale.authenticator)
    admin.wait_for_url(f"{live_server.url}/")
    assert admin.get_by_role("heading", level=1).inner_text() == "Northdale Council"
    check_page(admin)

    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Members").click()
    admin.wait_for_url("**/settings/members/")
    check_page(admin)

    admin.get_by_role("link", name="Invite a member").click()
    admin.wait_for_url("**/settings/members/invite/")
    check_page(admin)
    admin.get_by_label("E-mail address").fill(NEWCOMER_EMAIL)
    admin.get_by_label("Role").select_option(label="Editor")
    admin.get_by_label("Communications").check()
    admin.get_by_role("button", name="Send invitation").click()

    admin.wait_for_url("**/settings/members/")
    assert f"Invitation sent to {NEWCOMER_EMAIL}" in admin.get_by_role("status").inner_text()
    pending = admin.get_by_role("table", name="Invitations not yet accepted")
    assert NEWCOMER_EMAIL in pending.inner_text()
    check_page(admin)

    invitation_email = wait_for_email(NEWCOMER_EMAIL)
    accept_link = link_in(invitation_email, live_server.url)

    newcomer = new_page()  # another browser context: the newcomer has none of the admin's cookies
    newcomer.goto(accept_link)
    assert newcomer.get_by_role("heading", level=1).inner_text() == "Join Northdale Council"
    check_page(newcomer)
    newcomer.get_by_label("Your name").fill("Sam Newcomer")
    newcomer.get_by_label("Choose a password").fill(NEWCOMER_PASSWORD)
    newcomer.get_by_label("Type the password again").fill(NEWCOMER_PASSWORD)
    newcomer.get_by_role("button", name="Create my account").click()

    newcomer.wait_for_url("**/accounts/sign-in/")
    assert "Your account is ready" in newcomer.get_by_role("status").inner_text()
    check_page(newcomer)
    sign_in(newcomer, NEWCOMER_EMAIL, NEWCOMER_PASSWORD, check=False)

    newcomer.wait_for_url(f"{live_server.url}/")
    assert path_of(newcomer) == "/"
    assert newcomer.get_by_role("heading", level=1).inner_text() == "Northdale Council"
    overview = newcomer.get_by_role("main").inner_text()
    assert f"You are signed in as {NEWCOMER_EMAIL} with the role Editor" in overview
    assert "Communications" in overview
    check_page(newcomer)

    membership = Membership.objects.get(organisation=northdale.org.organisation, user__email=NEWCOMER_EMAIL)
    assert (membership.user.full_name, membership.role, membership.is_active) == ("Sam Newcomer", "editor", True)
    assert Invitation.objects.get(email=NEWCOMER_EMAIL).status == "accepted"

    admin.reload()  # the admin's Members page now lists the newcomer, and nothing is pending
    members = admin.get_by_role("table", name="Members of Northdale Council").inner_text()
    assert "Sam Newcomer" in members and NEWCOMER_EMAIL in members
    assert "No pending invitations." in admin.get_by_role("main").inner_text()


def test_sign_in_password_reset_and_admin_settings_pages_pass_axe_and_fit_320px(new_page, live_server, northdale):
    editor = add_member(northdale.org, "editor", "robin.editor@northdale.example", ["Communications"])
    communications = northdale.org.departments["Communications"]
    page = new_page()

    page.goto("/accounts/sign-in/")
    check_page(page)
    page.goto("/accounts/password-reset/")
    check_page(page)
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_role("button", name="Send the link").click()
    page.wait_for_url("**/accounts/password-reset/sent/")
    assert page.get_by_role("heading", level=1).inner_text() == "Check your e-mail"
    check_page(page)
    response = page.goto("/invite/not-a-real-token/")
    assert response.status == 410
    assert page.get_by_role("heading", level=1).inner_text() == "This invitation link is not valid"
    check_page(page)

    sign_in(page, ADMIN_EMAIL, PASSWORD, authenticator=northdale.authenticator, check=False)
    page.wait_for_url(f"{live_server.url}/")

    visits = [
        ("/settings/departments/", 200, "Departments"),
        (f"/settings/departments/{communications.pk}/", 200, "Rename Communications"),
        ("/settings/security/", 200, "Organisation and security settings"),
        ("/accounts/two-factor/", 200, "Two-factor authentication"),
        (f"/settings/members/{editor.pk}/", 200, "Robin.Editor"),
        ("/no-such-page/", 404, "Page not found"),
    ]
    for path, status, heading in visits:
        response = page.goto(path)
        assert response.status == status, f"{path} answered {response.status}, not {status}"
        assert page.get_by_role("heading", level=1).inner_text() == heading
        check_page(page)

    # The same form with its errors showing: the error state must be as accessible as the empty form.
    page.goto("/settings/members/invite/")
    with page.expect_navigation():
        page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_label("E-mail address").get_attribute("aria-invalid") == "true"
    assert page.locator("#id_email_error").inner_text().endswith("This field is required.")
    check_page(page)
