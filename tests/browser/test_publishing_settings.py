"""Publishing settings pages in Chromium: every page (and each form showing its errors) passes keyboard, axe and
320 px checks, and the forms work from the keyboard-reachable controls a person sees."""

from __future__ import annotations

import pytest

from approvals.models import ApprovalPolicy, BlockedWord, ChannelApprovalRule, PublishingSettings
from tests.browser.checks import assert_fits_320px, assert_no_axe_violations, check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, add_member, make_organisation
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin@westmere.example"
MANAGER_EMAIL = "manager@westmere.example"


@pytest.fixture
def westmere(transactional_db):
    org = make_organisation("westmere", "Westmere Council", ["Communications", "Customer Services"])
    add_member(org, "admin", ADMIN_EMAIL, [])
    add_member(org, "manager", MANAGER_EMAIL, ["Communications"])
    add_member(org, "approver", "approver@westmere.example", ["Communications"])
    channel = make_channel(org, department="Communications", platform="x", handle="@westmere")
    BlockedWord.objects.create(organisation=org.organisation, phrase="guaranteed", action="block")
    return org, channel


def _signed_in(new_page, live_server, email):
    page = new_page()
    sign_in(page, email, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    return page


def test_admin_uses_every_publishing_settings_page(new_page, live_server, westmere):
    org, channel = westmere
    page = _signed_in(new_page, live_server, ADMIN_EMAIL)

    page.goto("/posts/settings/")
    assert page.get_by_role("heading", level=1).inner_text() == "Publishing settings"
    check_page(page)

    # Organisation-wide settings: an error, then a save.
    page.get_by_label("Hold posts more than this many minutes late").fill("0")
    page.get_by_role("button", name="Save publishing settings").click()
    page.wait_for_load_state("load")
    assert "greater than or equal to 1" in page.get_by_role("main").inner_text()
    assert page.get_by_label("Hold posts more than this many minutes late").get_attribute("aria-invalid") == "true"
    assert page.title().startswith("Error: ")
    assert_no_axe_violations(page, " (settings form with errors)")
    assert_fits_320px(page)
    page.get_by_label("Hold posts more than this many minutes late").fill("45")
    page.get_by_label("Images need alt text before a post can be submitted").uncheck()
    page.get_by_role("button", name="Save publishing settings").click()
    page.wait_for_url("**/posts/settings/")
    assert "Publishing settings saved." in page.get_by_role("status").inner_text()
    saved = PublishingSettings.objects.get(organisation=org.organisation)
    assert saved.hold_late_posts_after_minutes == 45 and saved.alt_text_required is False

    # Blocked words: a duplicate is an error; a new one is added; one is removed.
    page.get_by_label("Word or phrase").fill("Guaranteed")
    page.get_by_role("button", name="Add blocked word").click()
    page.wait_for_load_state("load")
    assert "is already on the list" in page.get_by_role("main").inner_text()
    assert_no_axe_violations(page, " (blocked word form with errors)")
    assert_fits_320px(page)
    page.get_by_label("Word or phrase").fill("free parking")
    page.get_by_label("Needs review", exact=False).check()
    page.get_by_role("button", name="Add blocked word").click()
    page.wait_for_url("**/posts/settings/")
    assert BlockedWord.objects.get(phrase="free parking").action == "review"
    page.get_by_role("button", name="Remove guaranteed").click()
    page.wait_for_url("**/posts/settings/")
    assert not BlockedWord.objects.filter(phrase="guaranteed").exists()

    # A department's approval policy.
    page.get_by_role("link", name="Communications", exact=True).click()
    page.wait_for_url("**/posts/settings/departments/*/")
    assert page.get_by_role("heading", level=1).inner_text() == "Approval policy for Communications"
    check_page(page)
    page.get_by_label("Approvals needed").fill("9")
    page.get_by_label("Approver", exact=True).uncheck()
    page.get_by_label("Admin", exact=True).uncheck()
    page.get_by_role("button", name="Save approval policy").click()
    page.wait_for_load_state("load")
    main = page.get_by_role("main").inner_text()
    assert "less than or equal to 5" in main and "Choose at least one role that can approve posts" in main
    assert_no_axe_violations(page, " (policy form with errors)")
    assert_fits_320px(page)
    page.get_by_label("Approvals needed").fill("2")
    page.get_by_label("Approver", exact=True).check()
    page.get_by_role("button", name="Save approval policy").click()
    page.wait_for_url("**/posts/settings/departments/*/")
    policy = ApprovalPolicy.objects.get(department=org.departments["Communications"])
    assert policy.approvals_required == 2 and policy.approver_roles == ["approver"]
    # One approver but two approvals needed: said plainly.
    assert "Only 1 person can approve" in page.get_by_role("status").inner_text()
    assert_no_axe_violations(page, " (policy saved, with a warning)")

    # A channel's approval rule.
    page.goto("/posts/settings/")
    page.get_by_role("link", name=str(channel), exact=True).click()
    page.wait_for_url(f"**/posts/settings/channels/{channel.pk}/")
    assert page.get_by_role("heading", level=1).inner_text() == f"Approval rule for {channel}"
    check_page(page)
    page.get_by_label("Approvals needed for posts to this channel").select_option("3")
    page.get_by_role("button", name="Save approval rule").click()
    page.wait_for_url(f"**/posts/settings/channels/{channel.pk}/")
    assert ChannelApprovalRule.objects.get(channel=channel).approvals_required == 3
    assert_no_axe_violations(page, " (channel rule saved)")


def test_manager_reads_the_organisation_settings_and_edits_their_department(new_page, live_server, westmere):
    org, _channel = westmere
    page = _signed_in(new_page, live_server, MANAGER_EMAIL)
    page.goto("/posts/settings/")
    check_page(page)
    main = page.get_by_role("main")
    assert "Only admins change these." in main.inner_text()
    assert main.get_by_role("button").count() == 0
    assert main.get_by_role("link", name="Customer Services", exact=True).count() == 0
    main.get_by_role("link", name="Communications", exact=True).click()
    page.wait_for_url("**/posts/settings/departments/*/")
    check_page(page)
