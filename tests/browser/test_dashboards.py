"""The KPI dashboards in Chromium (issue 7 §3): every page passes keyboard, axe and 320 px checks with its charts
drawn; the filter form works from the keyboard; and the journey: after the inbox journey (a mention answered by an
agent) and the posts journey (a post approved and published on X and Facebook) have run in one organisation, and
beat's KPI tasks have run, a manager opens the dashboards and sees the counts those journeys produced.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import PublishTarget, TargetState
from approvals.tasks import sweep_due_posts
from channels_app import services as channel_services
from inbox.models import Conversation, Message, MessageDirection, SavedReply
from inbox.tasks import poll_due_channels
from metrics import rollups
from metrics.tasks import collect_due_post_metrics, refresh_rollups
from simulator.platforms.x import COUNCIL_ID, DEMO_ACCOUNTS
from tests.approvals_factories import demo_channel
from tests.browser import test_inbox_journey as inbox_journey
from tests.browser import test_posts_journey as posts_journey
from tests.browser.checks import assert_no_axe_violations, check_page
from tests.browser.flows import path_of, sign_in
from tests.conftest import PASSWORD, add_member, make_organisation
from tests.inbox_factories import make_channel, make_conversation
from tests.metrics.factories import published

pytestmark = pytest.mark.browser

MANAGER = "morgan.manager@eastmere.example"
PAGES = [
    ("/dashboards/", "Overview"),
    ("/dashboards/inbox/", "Inbox performance"),
    ("/dashboards/engagement/", "Publishing and engagement"),
    ("/dashboards/channel-shift/", "Channel shift"),
]
CHARTS_DRAWN = "() => [...document.querySelectorAll('canvas[data-chart]')].map(c => !!Chart.getChart(c))"


def _signed_in(new_page, live_server, email: str):
    page = new_page()
    sign_in(page, email, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    return page


def _figure(page, key: str) -> str:
    return page.locator(f"#figure-{key} .dash-card__value").inner_text()


@pytest.fixture
def eastmere(transactional_db):
    """A council with a week of contacts, replies and posts in two departments, rollups built."""
    org = make_organisation("eastmere", "Eastmere Council", ["Communications", "Customer Services"])
    manager = add_member(org, "manager", MANAGER, ["Communications", "Customer Services"])
    add_member(org, "agent", "alex.agent@eastmere.example", ["Customer Services"])
    x = make_channel(org, "Communications", "x", handle="@eastmere")
    mastodon = make_channel(org, "Customer Services", "mastodon", handle="@eastmere_help")
    now = timezone.now()
    for days_ago, channel in [(1, x), (2, mastodon), (2, mastodon), (4, x), (6, mastodon)]:
        conversation = make_conversation(org, channel=channel, at=now - timedelta(days=days_ago))
        Message.objects.create(organisation=org.organisation, channel=channel, conversation=conversation,
                               platform_message_id=f"ours-{conversation.pk}", direction=MessageDirection.OUTBOUND,
                               kind="reply", text="Thanks", sent_by=org.user("agent"),
                               created_at=now - timedelta(days=days_ago) + timedelta(hours=1))
        conversation.first_responded_at = now - timedelta(days=days_ago) + timedelta(hours=1)
        conversation.save()
    published(org, x, now - timedelta(days=3), likes=5, impressions=250, rate=2.0, method="impressions")
    published(org, mastodon, now - timedelta(days=2), likes=2, followers=80, rate=2.5, method="followers")
    rollups.refresh(org.organisation.pk)
    return org, manager


def test_every_dashboard_page_passes_axe_and_320px_with_its_charts(new_page, live_server, eastmere):
    page = _signed_in(new_page, live_server, MANAGER)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboards").click()
    page.wait_for_url("**/dashboards/")
    for path, title in PAGES:
        page.goto(path)
        assert page.get_by_role("heading", level=1).inner_text() == title
        check_page(page)
        drawn = page.evaluate(CHARTS_DRAWN)
        assert drawn and all(drawn), f"{path}: charts drawn {drawn}"
        # Every data table alternative and definition opened: still no violations, still no sideways scrolling.
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        assert_no_axe_violations(page, " with every <details> open")
        page.set_viewport_size({"width": 320, "height": 800})
        width = page.evaluate("document.documentElement.scrollWidth")
        page.set_viewport_size({"width": 1280, "height": 800})
        assert width <= 320, f"{path} is {width}px wide at 320 px with its tables open"
    page.goto("/dashboards/")
    assert _figure(page, "conversations_opened") == "5"


def test_filter_form_works_from_the_keyboard(new_page, live_server, eastmere):
    page = _signed_in(new_page, live_server, MANAGER)
    page.goto("/dashboards/inbox/")
    page.get_by_text("Period and filters").focus()
    page.keyboard.press("Enter")  # opens the <details>
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-preset"
    page.keyboard.press("ArrowDown")  # Last 7 days -> Last 28 days ... (the select moves to the next option)
    chosen = page.evaluate("document.activeElement.value")
    visited = []
    for _ in range(20):
        page.keyboard.press("Tab")
        visited.append(page.evaluate("document.activeElement.id || document.activeElement.outerHTML.slice(0, 60)"))
        if page.evaluate("document.activeElement.type") == "submit":
            break
    assert page.evaluate("document.activeElement.innerText") == "Show figures", visited
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/dashboards/inbox/\?preset={chosen}&"))
    assert page.get_by_label("Period", exact=True).input_value() == chosen
    check_page(page)

    # A bad date typed into the URL: the page says what is wrong, with the form, and a 400.
    response = page.goto("/dashboards/inbox/?preset=custom&from=2026-02-30")
    assert response.status == 400
    assert "is not a date" in page.get_by_role("alert").inner_text()
    check_page(page)


# ------------------------------------------------------------------------------------------- journey
@pytest.fixture
def westmere(transactional_db, sim):
    """One council for both journeys: the council's X account (polled every 10 s, as the inbox journey sets it),
    Facebook, an agent, an editor and an approver in Communications, and a manager who reads the dashboards."""
    org = make_organisation("westmere", "Westmere Council", ["Communications", "Customer Services"])
    agent = add_member(org, "agent", "robin.agent@westmere.example", ["Communications"])
    editor = add_member(org, "editor", posts_journey.EDITOR, ["Communications"])
    approver = add_member(org, "approver", posts_journey.APPROVER, ["Communications"])
    add_member(org, "manager", MANAGER, ["Communications"])
    demo = next(d for d in DEMO_ACCOUNTS if d["account_id"] == COUNCIL_ID)
    x = channel_services.channel_connect(actor=None, department=org.departments["Communications"], platform="x",
                                         account_id=demo["account_id"], handle=demo["handle"],
                                         credentials=demo["credentials"])
    x.poll_interval_seconds = 10
    x.save(update_fields=["poll_interval_seconds"])
    facebook = demo_channel(org, "facebook")
    SavedReply.objects.create(
        organisation=org.organisation, department=org.departments["Communications"], title="Missed bin",
        body="Sorry about that, {contact_name}. We have booked a return visit for tomorrow.",
    )
    return org, agent, editor, approver, x, facebook


@pytest.fixture
def beat(celery_worker):
    """Beat's inbox poll and publishing sweeps every 2 s while the journeys run; the real worker does the work."""
    stop = threading.Event()

    def sweep():
        while not stop.is_set():
            poll_due_channels.delay()
            sweep_due_posts.delay()
            stop.wait(2)

    thread = threading.Thread(target=sweep, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def test_manager_sees_the_counts_the_inbox_and_posts_journeys_produced(new_page, live_server, sim, westmere, beat,
                                                                        tmp_path):
    org, agent, editor, approver, x, facebook = westmere
    # The inbox journey: a mention on the simulator, polled, answered by the agent with a saved reply.
    inbox_journey.test_mention_to_reply_on_the_simulator(new_page, live_server, sim, (org, agent, x), None)
    # The posts journey: composed, changes requested, approved, published on X and Facebook on time.
    posts_journey.test_compose_review_approve_and_publish_on_time(
        new_page, live_server, sim, (org, editor, approver, x, facebook), None, tmp_path)

    # Beat's KPI tasks, as beat runs them: track the published posts, then bring the rollups up to date.
    collect_due_post_metrics()
    refresh_rollups()

    # What the journeys left behind, counted from the source rows (not through the KPI code).
    organisation = org.organisation
    contacts = Conversation.objects.filter(organisation=organisation, messages__direction=MessageDirection.INBOUND
                                           ).distinct().count()
    inbound = Message.objects.filter(organisation=organisation, direction=MessageDirection.INBOUND).count()
    replies = Message.objects.filter(organisation=organisation, direction=MessageDirection.OUTBOUND).count()
    sent_targets = PublishTarget.objects.filter(organisation=organisation, state=TargetState.SENT).count()
    # The mention (and whatever else the simulator's demo account already held, read on the first poll).
    assert contacts >= 1
    assert replies == 1  # the agent's one reply
    assert sent_targets == 2  # one post, on X and on Facebook

    page = _signed_in(new_page, live_server, MANAGER)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboards").click()
    page.wait_for_url("**/dashboards/")
    assert path_of(page) == "/dashboards/"
    check_page(page)
    assert _figure(page, "conversations_opened") == str(contacts)
    assert _figure(page, "inbound_messages") == str(inbound)
    assert _figure(page, "outbound_messages") == "1"
    assert _figure(page, "posts") == "2"
    assert page.locator("#chart-contacts-summary").inner_text().startswith(
        f"{contacts} contact{'s' if contacts != 1 else ''} and 1 reply sent")

    page.get_by_role("navigation", name="Dashboards").get_by_role("link", name="Inbox performance").click()
    page.wait_for_url("**/dashboards/inbox/**")
    check_page(page)
    # The chart's data table alternative, opened from its summary.
    page.get_by_text("Data table: replies per agent").click()
    agents = page.locator("#table-per_agent")
    assert agents.locator("tbody tr").count() == 1
    assert agents.locator("tbody tr th").inner_text() == agent.user.full_name
    assert agents.locator("tbody tr td").first.inner_text() == "1"

    page.get_by_role("navigation", name="Dashboards").get_by_role("link", name="Publishing and engagement").click()
    page.wait_for_url("**/dashboards/engagement/**")
    check_page(page)
    channels = page.locator("#table-channels tbody tr")
    assert channels.count() == 2
    assert sorted(row.locator("td").nth(1).inner_text() for row in channels.all()) == ["1", "1"]
