"""Channel-shift data pages in Chromium: volumes grid and costs, with and without form errors, pass keyboard, axe and
320 px checks; a figure entered with the keyboard shows up in the grid."""

from __future__ import annotations

import pytest

from metrics import services
from tests.browser.checks import assert_fits_320px, assert_no_axe_violations, check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, add_member, make_organisation

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin@eastvale.example"


@pytest.fixture
def eastvale(transactional_db):
    org = make_organisation("eastvale", "Eastvale Council", ["Customer Services"])
    admin = add_member(org, "admin", ADMIN_EMAIL, [])
    services.contact_cost_set(actor=admin, channel="phone", cost="3.40", source="Eastvale costing 2025")
    return org


def test_admin_records_a_volume_and_reads_the_costs(new_page, live_server, eastvale):
    page = new_page()
    sign_in(page, ADMIN_EMAIL, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")

    page.goto("/dashboards/channel-shift/data/")
    assert page.get_by_role("heading", level=1).inner_text() == "Offline contact volumes"
    check_page(page)

    form = page.locator("form[method=post]")
    form.get_by_label("Contacts").fill("-3")
    form.get_by_role("button", name="Save figure").click()
    page.wait_for_load_state("load")
    assert "greater than or equal to 0" in page.content()
    assert_no_axe_violations(page, " (volume form with errors)")
    assert_fits_320px(page)

    form = page.locator("form[method=post]")
    form.get_by_label("Contacts").fill("2500")
    form.get_by_label("Contacts").press("Enter")
    page.wait_for_load_state("load")
    assert "2,500" in page.locator("table").inner_text()

    page.goto("/dashboards/channel-shift/costs/")
    check_page(page)
    assert "Eastvale costing 2025" in page.content()
    page.get_by_role("button", name="Save cost").click()
    page.wait_for_load_state("load")
    assert "This field is required" in page.content()
    assert_no_axe_violations(page, " (cost form with errors)")
    assert_fits_320px(page)
