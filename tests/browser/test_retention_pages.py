"""Retention settings and the erase-contact confirmation in Chromium: keyboard, axe and 320 px checks, and a form
showing its errors."""

from __future__ import annotations

import pytest

from inbox.models import Contact
from tests.browser.checks import assert_fits_320px, assert_no_axe_violations, check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, add_member, make_organisation
from tests.inbox_factories import make_channel, make_contact, make_conversation

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin@eastmere.example"


@pytest.fixture
def eastmere(transactional_db):
    org = make_organisation("eastmere", "Eastmere Council", ["Communications"])
    add_member(org, "admin", ADMIN_EMAIL, [])
    channel = make_channel(org, department="Communications", platform="x", handle="@eastmere")
    contact = make_contact(org, name="Jane Resident", handle="@jane_resident_with_a_rather_long_handle")
    conversation = make_conversation(org, channel=channel, contact=contact, text="Bins missed on Mill Lane")
    return org, contact, conversation


def test_admin_uses_the_retention_and_erasure_pages(new_page, live_server, eastmere):
    org, contact, conversation = eastmere
    page = new_page()
    sign_in(page, ADMIN_EMAIL, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")

    page.goto("/inbox/settings/retention/")
    assert page.get_by_role("heading", level=1).inner_text() == "Retention and legal holds"
    check_page(page)
    page.get_by_label("Keep message content for (days)").fill("10")
    page.get_by_role("button", name="Save retention settings").click()
    page.wait_for_load_state("load")
    assert "greater than or equal to 30" in page.content()
    assert_no_axe_violations(page, " (retention form with errors)")
    assert_fits_320px(page)

    page.goto(f"/inbox/{conversation.pk}/legal-hold/")
    check_page(page)

    page.goto(f"/inbox/contacts/{contact.pk}/erase/")
    assert page.get_by_role("heading", level=1).inner_text() == f"Erase contact {contact.pk}"
    check_page(page)
    page.get_by_label("Reason for erasure").fill("too short")
    page.get_by_role("button", name="Erase this contact").click()
    page.wait_for_load_state("load")
    assert "Tick the box" in page.content()
    assert_no_axe_violations(page, " (erase form with errors)")
    assert_fits_320px(page)

    page.get_by_label("Reason for erasure").fill("Erasure request ER-2026-031")
    page.get_by_label("I understand", exact=False).check()
    page.get_by_role("button", name="Erase this contact").click()
    page.wait_for_load_state("load")
    assert "Contact erased" in page.content()
    check_page(page)
    assert Contact.objects.get(pk=contact.pk).erased_at is not None
