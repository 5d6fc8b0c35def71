"""Inbox settings pages in Chromium: every page (and a form showing its errors) passes keyboard, axe and 320 px checks."""

from __future__ import annotations

from datetime import date

import pytest

from inbox.models import BankHoliday, QuarantinedItem, RiskKeyword, SavedReply
from tests.browser.checks import assert_fits_320px, assert_no_axe_violations, check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, add_member, make_organisation
from tests.inbox_factories import make_channel

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin@westmere.example"


@pytest.fixture
def westmere(transactional_db):
    org = make_organisation("westmere", "Westmere Council", ["Communications", "Customer Services"])
    add_member(org, "admin", ADMIN_EMAIL, [])
    add_member(org, "editor", "trainee@westmere.example", ["Communications"])
    channel = make_channel(org, department="Communications", platform="x", handle="@westmere")
    SavedReply.objects.create(
        organisation=org.organisation, department=org.departments["Communications"], title="Bins",
        body="Hi {contact_name}, thanks for letting us know. {agent_name}",
    )
    RiskKeyword.objects.create(organisation=org.organisation, phrase="self-harm")
    BankHoliday.objects.create(organisation=org.organisation, date=date(date.today().year + 1, 12, 25), name="Christmas Day")
    QuarantinedItem.objects.create(
        organisation=org.organisation, channel=channel, source="webhook", platform_message_id="x-1",
        raw={"entry": [{"changes": [{"value": {"text": "a" * 400, "from": {"id": "1234567890" * 5}}}]}]},
        error="KeyError: 'created_time' is missing from the item",
    )
    return org, channel


def test_admin_opens_every_inbox_settings_page(new_page, live_server, westmere):
    org, channel = westmere
    page = new_page()
    sign_in(page, ADMIN_EMAIL, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")

    page.goto("/inbox/settings/")
    assert page.get_by_role("heading", level=1).inner_text() == "Inbox settings"
    check_page(page)

    page.get_by_role("link", name="Communications", exact=False).click()
    page.wait_for_url("**/inbox/settings/departments/*/")
    check_page(page)
    page.get_by_label("Monday: closes", exact=True).fill("08:00")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("load")
    assert "must be after the start" in page.content()
    assert_no_axe_violations(page, " (policy form with errors)")
    assert_fits_320px(page)

    for path, heading in [
        ("/inbox/settings/bank-holidays/", "Bank holidays"),
        ("/inbox/settings/risk-keywords/", "Risk keywords"),
        ("/inbox/settings/saved-replies/", "Saved replies"),
        ("/inbox/settings/saved-replies/new/", "New saved reply"),
        (f"/inbox/settings/channels/{channel.pk}/out-of-hours/", f"Inbox settings for {channel}"),
        ("/inbox/settings/quarantine/", "Quarantined items"),
    ]:
        page.goto(path)
        assert page.get_by_role("heading", level=1).inner_text() == heading
        check_page(page)

    # The raw payload opens from the keyboard and still fits at 320 px.
    page.get_by_text("Raw payload", exact=False).first.focus()
    page.keyboard.press("Enter")
    assert page.locator("pre").first.is_visible()
    assert_no_axe_violations(page, " (payload open)")
    assert_fits_320px(page)

    page.goto("/inbox/settings/saved-replies/new/")
    page.get_by_label("Title").fill("Oops")
    page.get_by_label("Reply text").fill("Hi {first_name}")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("load")
    assert "Unknown placeholder {first_name}" in page.content()
    assert_no_axe_violations(page, " (saved reply form with errors)")


def test_saved_reply_edit_page_passes_the_checks_with_and_without_errors(new_page, live_server, westmere):
    page = new_page()
    sign_in(page, ADMIN_EMAIL, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    saved = SavedReply.objects.get(title="Bins")
    page.goto("/inbox/settings/saved-replies/")
    page.get_by_role("link", name="Edit Bins").click()
    page.wait_for_url(f"**/inbox/settings/saved-replies/{saved.pk}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Edit saved reply"
    assert page.get_by_label("Title").input_value() == "Bins"
    check_page(page)

    page.get_by_label("Title").fill("")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("load")
    assert "This field is required." in page.get_by_role("main").inner_text()
    assert page.get_by_label("Title").get_attribute("aria-invalid") == "true"
    assert_no_axe_violations(page, " (saved reply edit form with errors)")
    assert_fits_320px(page)

    page.get_by_label("Title").fill("Bins collected")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/inbox/settings/saved-replies/")
    saved.refresh_from_db()
    assert saved.title == "Bins collected"


def test_channel_settings_page_sets_how_often_the_channel_is_checked(new_page, live_server, westmere):
    _org, channel = westmere
    page = new_page()
    sign_in(page, ADMIN_EMAIL, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    page.goto("/inbox/settings/")
    page.get_by_role("link", name=str(channel), exact=False).click()
    page.wait_for_url(f"**/inbox/settings/channels/{channel.pk}/out-of-hours/")
    assert page.get_by_role("heading", level=1).inner_text() == f"Inbox settings for {channel}"
    check_page(page)

    field = page.get_by_label("Check for new messages every (seconds)")
    assert field.input_value() == "30"
    field.fill("5")
    page.get_by_role("button", name="Save how often").click()
    page.wait_for_load_state("load")
    assert "Choose a whole number of seconds from 10 to 3600." in page.get_by_role("main").inner_text()
    assert page.get_by_label("Check for new messages every (seconds)").get_attribute("aria-invalid") == "true"
    assert_no_axe_violations(page, " (poll interval with an error)")
    assert_fits_320px(page)

    page.get_by_label("Check for new messages every (seconds)").fill("90")
    page.get_by_role("button", name="Save how often").click()
    page.wait_for_url(f"**/inbox/settings/channels/{channel.pk}/out-of-hours/")
    assert "every 90 seconds" in page.get_by_role("status").first.inner_text()
    channel.refresh_from_db()
    assert channel.poll_interval_seconds == 90
