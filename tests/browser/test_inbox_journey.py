"""The inbox journey end to end (issue 4): a member of the public mentions the council on the simulator,
a real Celery worker polls the channel (beat's sweep is run by a small thread, as beat would), the agent
sees the conversation appear on the open inbox page without reloading, assigns it to themself, replies
with a saved reply, and the reply appears on the simulator once, as an answer to the mention.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from accounts.models import Membership
from channels_app import services as channel_services
from inbox.models import Conversation, Reply, ReplyState, SavedReply
from inbox.tasks import poll_due_channels
from simulator.platforms.x import COUNCIL_ID, DEMO_ACCOUNTS
from tests.browser.checks import check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, add_member, make_organisation

pytestmark = pytest.mark.browser

CITIZEN = {"Authorization": "Bearer sim-citizen-token"}
MENTION = "@democouncil the bin on Station Road was missed again this week"


@pytest.fixture
def council(transactional_db, sim, settings):
    org = make_organisation("northmere", "Northmere Council", ["Communications", "Customer Services"])
    agent: Membership = add_member(org, "agent", "robin.agent@northmere.example", ["Customer Services"])
    demo = next(d for d in DEMO_ACCOUNTS if d["account_id"] == COUNCIL_ID)
    channel = channel_services.channel_connect(
        actor=None,
        department=org.departments["Customer Services"],
        platform="x",
        account_id=demo["account_id"],
        handle=demo["handle"],
        credentials=demo["credentials"],
    )
    channel.poll_interval_seconds = 10
    channel.save(update_fields=["poll_interval_seconds"])
    SavedReply.objects.create(
        organisation=org.organisation,
        department=org.departments["Customer Services"],
        title="Missed bin",
        body="Sorry about that, {contact_name}. We have booked a return visit for tomorrow.",
    )
    return org, agent, channel


@pytest.fixture
def beat(celery_worker):
    """Runs beat's sweep every 2 s while the test runs; the real worker does the polling."""
    stop = threading.Event()

    def sweep():
        while not stop.is_set():
            poll_due_channels.delay()
            stop.wait(2)

    thread = threading.Thread(target=sweep, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def test_mention_to_reply_on_the_simulator(new_page, live_server, sim, council, beat):
    org, agent, channel = council
    page = new_page()
    sign_in(page, agent.user.email, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox", exact=True).click()
    page.wait_for_url("**/inbox/")
    check_page(page)

    # The public mentions the council; it shows up on the open page within the poll interval plus 5 s.
    response = requests.post(f"{sim.url}/x/2/tweets", json={"text": MENTION}, headers=CITIZEN, timeout=5)
    response.raise_for_status()
    mention_id = response.json()["data"]["id"]
    posted = time.monotonic()
    row = page.locator(".inbox-row", has_text="Station Road was missed")
    row.wait_for(timeout=(channel.poll_interval_seconds + 5) * 1000 + 2000)
    appeared_after = time.monotonic() - posted
    assert appeared_after <= channel.poll_interval_seconds + 5, appeared_after
    page.reload()  # check_page starts from a fresh load (its first Tab must reach the skip link)
    check_page(page)

    conversation = Conversation.objects.get(channel=channel, messages__platform_message_id=mention_id)
    row.get_by_role("link").first.click()
    page.wait_for_url(f"**/inbox/{conversation.pk}/")
    check_page(page)

    # Assign it to themself.
    page.get_by_label("Assign to").select_option("me")
    page.get_by_role("button", name="Assign", exact=True).click()
    page.wait_for_url(f"**/inbox/{conversation.pk}/")
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent.user_id

    # Reply with the saved reply (its placeholder filled with the contact's name).
    page.get_by_label("Saved reply").select_option(label="Missed bin")
    page.get_by_role("button", name="Insert").click()
    reply_box = page.get_by_label("Your reply to", exact=False)
    assert "Sorry about that, Casey Citizen." in reply_box.input_value()
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_url(f"**/inbox/{conversation.pk}/")

    deadline = time.monotonic() + 15
    reply = Reply.objects.get(conversation=conversation)
    while reply.state != ReplyState.SENT and time.monotonic() < deadline:
        time.sleep(0.3)
        reply.refresh_from_db()
    assert reply.state == ReplyState.SENT, (reply.state, reply.last_error)

    # On the simulator: exactly one reply by the council, answering the mention.
    tweets = sim.state()["x"]["tweets"].values()
    ours = [t for t in tweets if t["author_id"] == COUNCIL_ID and "booked a return visit" in t["text"]]
    assert len(ours) == 1
    assert ours[0]["id"] == reply.platform_id
    assert ours[0]["referenced_tweets"] == [{"type": "replied_to", "id": mention_id}]

    page.reload()
    assert page.get_by_text("booked a return visit").first.is_visible()
    check_page(page)
