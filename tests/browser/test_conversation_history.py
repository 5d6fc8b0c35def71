"""A conversation's History tab in Chromium: reached from the conversation page by keyboard, it passes axe, the
keyboard check and 320 px, and lists what agents did to the conversation (newest first, as the audit trail has it)."""

from __future__ import annotations

import uuid

import pytest

from audit.models import AuditEvent
from inbox import services
from inbox.models import ConversationStatus
from tests.browser.checks import check_page
from tests.browser.flows import sign_in
from tests.conftest import PASSWORD, add_member, make_organisation
from tests.inbox_factories import make_channel, make_contact, make_conversation

pytestmark = pytest.mark.browser

AGENT = "ash.agent@eastbrook.example"
MANAGER = "mo.manager@eastbrook.example"


@pytest.fixture(autouse=True)
def _own_presence_keys(settings):
    # Other test runs share this Redis and number their conversations from 1 too.
    settings.PRESENCE_KEY_PREFIX = f"presence-test-{uuid.uuid4().hex}"


@pytest.fixture
def eastbrook(transactional_db):
    org = make_organisation("eastbrook", "Eastbrook Council", ["Communications", "Customer Services"])
    add_member(org, "agent", AGENT, ["Customer Services"])
    # Managers read the audit trail of their departments (Capability.VIEW_AUDIT); agents do not.
    add_member(org, "manager", MANAGER, ["Customer Services"])
    return org


def test_manager_follows_the_history_link_to_a_tab_listing_the_agents_actions(new_page, live_server, eastbrook):
    org = eastbrook
    agent = org.members["agent"]
    channel = make_channel(org, department="Customer Services", platform="x")
    contact = make_contact(org, platform="x", name="Jo Bloggs", handle="@jobloggs")
    conversation = make_conversation(org, channel=channel, contact=contact, text="There is a pothole on Mill Lane")
    services.conversation_assign(actor=agent, conversation_id=conversation.pk, assignee=agent.user)
    services.conversation_set_tags(actor=agent, conversation_id=conversation.pk, names=["Potholes"])
    services.note_add(actor=agent, conversation_id=conversation.pk, text="Passed to the highways team.")
    services.conversation_set_status(actor=agent, conversation_id=conversation.pk, status=ConversationStatus.PENDING)
    recorded = list(AuditEvent.objects.filter(target_type="inbox.conversation", target_id=str(conversation.pk))
                    .order_by("-occurred_at", "-id").values_list("pk", flat=True))
    assert len(recorded) == 4

    page = new_page()
    sign_in(page, MANAGER, PASSWORD, check=False)
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"/inbox/{conversation.pk}/")
    check_page(page)
    assert page.get_by_role("heading", level=1).inner_text() == "Conversation with Jo Bloggs"

    page.get_by_role("link", name="History of this conversation").press("Enter")
    page.wait_for_url(f"**/inbox/{conversation.pk}/history/")
    check_page(page)
    assert page.title().startswith("History: Conversation with Jo Bloggs")
    assert page.get_by_role("heading", level=1).inner_text() == "Conversation with Jo Bloggs"
    tabs = page.get_by_role("navigation", name="Conversation tabs")
    assert tabs.get_by_role("link", name="History", exact=True).get_attribute("aria-current") == "page"
    assert tabs.get_by_role("link", name="Conversation", exact=True).get_attribute("href") == f"/inbox/{conversation.pk}/"

    history = page.locator("#history")
    assert history.get_by_role("heading", name="Audit history").is_visible()
    items = history.locator(".audit-history__item")
    # Exactly the four actions, newest first; opening the tab is recorded but is not one of them.
    assert [int(items.nth(i).get_attribute("data-event-id")) for i in range(items.count())] == recorded
    for position, label in enumerate(["Conversation status changed", "Internal note added",
                                      "Conversation tags changed", "Conversation assigned"]):
        item = items.nth(position)
        assert item.get_by_role("link", name=label).is_visible(), (label, item.inner_text())
        assert agent.user.label in item.inner_text()
    assert "status: open → pending" in items.nth(0).inner_text()
    assert "tags: (none) → Potholes" in items.nth(2).inner_text()
    assert f"assignee: (none) → {AGENT}" in items.nth(3).inner_text()
