"""Connecting channels in Chromium: the product's pages, then the simulator's own OAuth pages on another origin,
then back. Every Civic Desk page on the way passes keyboard, axe and 320 px checks (the simulator's are not ours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from accounts.models import Membership
from channels_app import grants, services
from channels_app.models import Channel, ChannelStatus
from tests.browser.checks import check_page
from tests.browser.flows import path_of, sign_in
from tests.conftest import PASSWORD, Org, add_member, make_organisation

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin@eastvale.example"
MANAGER_EMAIL = "morgan.manager@eastvale.example"
AGENT_EMAIL = "alex.agent@eastvale.example"
CHANNELS_PATH = "/channels/"
CONNECT_PATH = "/channels/connect/"


@dataclass
class Council:
    org: Org
    admin: Membership


@pytest.fixture
def eastvale(transactional_db) -> Council:
    """A council whose two-factor policy is optional, and its admin (no authenticator needed)."""
    org = make_organisation("eastvale", "Eastvale Council", ["Communications", "Customer Services"])
    return Council(org=org, admin=add_member(org, "admin", ADMIN_EMAIL, []))


def _signed_in_on_channels(page, live_server, email: str) -> None:
    """Signs in and opens Channels from the main navigation; checks the Channels page."""
    sign_in(page, email, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Channels").click()
    page.wait_for_url(f"**{CHANNELS_PATH}")
    assert page.get_by_role("heading", level=1).inner_text() == "Channels"
    check_page(page)


def _open_connect_form(page) -> None:
    page.get_by_role("link", name="Connect a channel").click()
    page.wait_for_url(f"**{CONNECT_PATH}")
    assert page.get_by_role("heading", level=1).inner_text() == "Connect a channel"
    check_page(page)


def _choose(page, department: str, platform: str) -> None:
    page.get_by_label("Department", exact=True).select_option(label=department)
    page.get_by_label("Platform", exact=True).select_option(label=platform)


def _submit_expecting_errors(page) -> None:
    """Continue on the connect form when it should come back with its errors (a POST answered 200)."""
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()
    assert path_of(page) == CONNECT_PATH


def _continue_to_platform(page, url: str) -> None:
    """Continue on the connect form; the browser follows the redirect to the platform's page at `url` (another origin)."""
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.get_by_role("button", name="Continue").click()
    try:
        page.wait_for_url(re.compile(re.escape(url) + r"\?"))
    except PlaywrightTimeoutError:
        raise AssertionError(
            f"The browser did not reach {url} after Continue; it is at {page.url}. Console:\n  " + "\n  ".join(console)
        ) from None


def _channel_row(page, handle: str):
    table = page.get_by_role("table", name="Connected social media accounts")
    return table.get_by_role("row").filter(has_text=handle)


def _back_on_channels(page, live_server, *, label: str, handle: str, platform: str, display_name: str) -> None:
    """After the platform sends the browser back: the Channels page says so and lists the account as healthy."""
    page.wait_for_url(f"{live_server.url}{CHANNELS_PATH}")
    assert f"{label} is connected to Communications." in page.get_by_role("status").inner_text()
    row = _channel_row(page, handle)
    assert row.count() == 1, page.get_by_role("main").inner_text()
    cells = [cell.strip() for cell in row.get_by_role("cell").all_inner_texts()]
    assert display_name in cells[0] and handle in cells[0]
    assert cells[1:4] == [platform, "Communications", "Healthy"], cells
    check_page(page)


def _assert_no_secret_in(page, channel: Channel) -> None:
    """No token, secret or password the channel holds is anywhere in the page's HTML."""
    html = page.content()
    secrets = {
        key: value for key, value in channel.credentials.items()
        if isinstance(value, str) and value and re.search(r"token|secret|password|jwt", key, re.IGNORECASE)
    }
    assert secrets, f"{channel!r} holds no credentials to look for"
    for key, value in secrets.items():
        assert value not in html, f"The credential {key!r} of {channel!r} appears in the HTML of {page.url}"


def test_admin_connects_an_x_account_through_the_x_authorize_page(new_page, live_server, sim, eastvale):
    page = new_page()
    _signed_in_on_channels(page, live_server, ADMIN_EMAIL)
    assert "No channels are connected to your departments yet." in page.get_by_role("main").inner_text()
    _open_connect_form(page)
    _choose(page, "Communications", "X")

    # The simulator's X consent page, on another origin: choose Demo Council and authorise.
    _continue_to_platform(page, f"{sim.url}/x/i/oauth2/authorize")
    assert page.get_by_role("heading", level=1).inner_text() == "Authorize app"
    council = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Demo Council (@democouncil)"))
    council.get_by_role("button", name="Authorize app").click()

    _back_on_channels(page, live_server, label="X democouncil", handle="democouncil", platform="X",
                      display_name="Demo Council")

    channel = Channel.objects.get(organisation=eastvale.org.organisation, platform="x")
    assert (channel.handle, channel.display_name, channel.status) == ("democouncil", "Demo Council", ChannelStatus.ACTIVE)
    assert channel.department == eastvale.org.departments["Communications"]
    assert channel.connected_by == eastvale.admin.user
    access_token = channel.credentials["access_token"]
    assert access_token and channel.credentials["refresh_token"]
    assert access_token not in page.content()
    _assert_no_secret_in(page, channel)


def test_admin_connects_a_mastodon_account_through_the_instance_authorize_page(new_page, live_server, sim, eastvale):
    instance_url = f"{sim.url}/mastodon"
    page = new_page()
    _signed_in_on_channels(page, live_server, ADMIN_EMAIL)
    _open_connect_form(page)

    # No server named: the form comes back with the error beside the field, and stays accessible.
    _choose(page, "Communications", "Mastodon")
    _submit_expecting_errors(page)
    server = page.get_by_label("Mastodon server (for Mastodon)")
    assert server.get_attribute("aria-invalid") == "true"
    assert "Enter the address of the Mastodon server" in page.locator("#id_instance_url_error").inner_text()
    check_page(page)

    # A private address is refused before anything is called.
    _choose(page, "Communications", "Mastodon")
    page.get_by_label("Mastodon server (for Mastodon)").fill("https://10.0.0.5")
    _submit_expecting_errors(page)
    assert page.get_by_label("Mastodon server (for Mastodon)").get_attribute("aria-invalid") == "true"
    assert page.locator("#id_instance_url_error").inner_text().strip()
    check_page(page)
    assert not Channel.objects.exists()

    _choose(page, "Communications", "Mastodon")
    page.get_by_label("Mastodon server (for Mastodon)").fill(instance_url)

    # The simulated instance's consent page: authorise as Demo Council.
    _continue_to_platform(page, f"{instance_url}/oauth/authorize")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Authorize")
    page.get_by_role("button", name="Authorize as Demo Council (@democouncil)").click()

    page.wait_for_url(f"{live_server.url}{CHANNELS_PATH}")
    channel_handle = Channel.objects.get(organisation=eastvale.org.organisation, platform="mastodon").handle
    assert channel_handle.startswith("@democouncil@")
    _back_on_channels(page, live_server, label=f"Mastodon {channel_handle}", handle=channel_handle,
                      platform="Mastodon", display_name="Demo Council")

    channel = Channel.objects.get(organisation=eastvale.org.organisation, platform="mastodon")
    assert channel.instance_url == instance_url and channel.status == ChannelStatus.ACTIVE
    assert channel.department == eastvale.org.departments["Communications"]
    assert channel.credentials["access_token"]
    _assert_no_secret_in(page, channel)


def test_admin_connects_a_bluesky_account_with_an_app_password(new_page, live_server, sim, eastvale):
    from simulator.platforms.bluesky import DEMO_ACCOUNTS

    account = next(a for a in DEMO_ACCOUNTS if a["handle"] == "democouncil.bsky.social")
    page = new_page()
    _signed_in_on_channels(page, live_server, ADMIN_EMAIL)
    _open_connect_form(page)

    # Bluesky without handle or app password: both errors show, accessibly.
    _choose(page, "Communications", "Bluesky")
    _submit_expecting_errors(page)
    assert page.get_by_label("Bluesky handle (for Bluesky)").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Bluesky app password (for Bluesky)").get_attribute("aria-invalid") == "true"
    check_page(page)

    _choose(page, "Communications", "Bluesky")
    page.get_by_label("Bluesky handle (for Bluesky)").fill(account["handle"])
    page.get_by_label("Bluesky app password (for Bluesky)").fill(account["credentials"]["app_password"])
    page.get_by_role("button", name="Continue").click()

    _back_on_channels(page, live_server, label="Bluesky democouncil.bsky.social", handle="democouncil.bsky.social",
                      platform="Bluesky", display_name="Demo Council")

    channel = Channel.objects.get(organisation=eastvale.org.organisation, platform="bluesky")
    assert (channel.account_id, channel.handle, channel.status) == (account["account_id"], account["handle"], ChannelStatus.ACTIVE)
    assert channel.credentials["app_password"] == account["credentials"]["app_password"]
    _assert_no_secret_in(page, channel)


def test_manager_gives_a_member_of_another_department_reply_on_their_channel(new_page, live_server, sim, eastvale):
    from simulator.platforms.x import DEMO_ACCOUNTS

    org = eastvale.org
    add_member(org, "manager", MANAGER_EMAIL, ["Communications"])
    agent = add_member(org, "agent", AGENT_EMAIL, ["Customer Services"])
    demo = DEMO_ACCOUNTS[0]
    channel = services.channel_connect(
        actor=None, department=org.departments["Communications"], platform="x", account_id=demo["account_id"],
        handle=demo["handle"], display_name=demo["display_name"], credentials=demo["credentials"],
    )
    assert grants.REPLY not in grants.effective_grants(agent, channel)

    page = new_page()
    _signed_in_on_channels(page, live_server, MANAGER_EMAIL)
    _channel_row(page, demo["handle"]).get_by_role("link", name=f"Grants for {channel}").click()
    page.wait_for_url(f"**/channels/{channel.pk}/grants/")
    assert page.get_by_role("heading", level=1).inner_text() == f"Grants for {channel}"
    check_page(page)

    reply = page.get_by_role("checkbox", name=f"Reply for {agent.user}", exact=True)
    assert not reply.is_checked()
    reply.check()
    page.get_by_role("button", name="Save grants").click()

    page.wait_for_url(f"**/channels/{channel.pk}/grants/")
    assert f"Grants for {channel} saved." in page.get_by_role("status").inner_text()
    assert page.get_by_role("checkbox", name=f"Reply for {agent.user}", exact=True).is_checked()
    assert not page.get_by_role("checkbox", name=f"Publish for {agent.user}", exact=True).is_checked()
    check_page(page)

    agent.refresh_from_db()
    assert grants.explicit_grants(agent.user_id, channel) == {grants.REPLY}
    assert grants.REPLY in grants.effective_grants(agent, channel)
