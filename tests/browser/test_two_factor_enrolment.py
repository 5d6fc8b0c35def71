"""Two-factor enrolment in the browser: the QR code page and the backup codes must be usable by everyone."""

from __future__ import annotations

from base64 import b32decode

import pytest
from django_otp.oath import TOTP

from accounts import services
from tests.browser.checks import check_page
from tests.browser.flows import path_of, sign_in
from tests.conftest import PASSWORD, add_member, make_organisation

pytestmark = pytest.mark.browser


def code_for_secret(secret: str) -> str:
    """What an authenticator app shows after the person types in the secret key from the page."""
    key = b32decode(secret + "=" * (-len(secret) % 8))
    return f"{TOTP(key).token():06d}"


def test_member_whose_organisation_requires_two_factor_turns_it_on_and_is_shown_backup_codes(new_page, live_server):
    org = make_organisation("eastmoor", "Eastmoor Fire Service", ["Press Office"], two_factor_policy="everyone")
    member = add_member(org, "agent", "kai.agent@eastmoor.example", ["Press Office"])
    page = new_page()
    sign_in(page, member.user.email, PASSWORD, check=False)

    page.wait_for_url("**/accounts/two-factor/")
    assert page.get_by_role("heading", level=1).inner_text() == "Set up two-factor authentication"
    assert "requires two-factor authentication" in page.get_by_role("main").inner_text()
    assert page.get_by_role("img", name="QR code for your authenticator app").is_visible()
    check_page(page)

    page.goto("/")  # everything else waits until two-factor is on
    assert path_of(page) == "/accounts/two-factor/"

    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("6-digit code from your authenticator app").fill(code_for_secret(secret))
    page.get_by_role("button", name="Turn on two-factor authentication").click()

    assert page.get_by_role("heading", level=1).inner_text() == "Your backup codes"
    codes = page.locator("#backup-codes li").all_inner_texts()
    assert len(codes) == services.BACKUP_CODE_COUNT and len(set(codes)) == len(codes)
    assert services.confirmed_totp(member.user) is not None
    check_page(page)

    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Eastmoor Fire Service"
