"""Erasing a contact (issue 6 §6): their words and profile go everywhere, the reason is audited, the KPIs stay,
a legal hold refuses it, only admins of the same organisation may do it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.models import AuditEvent, EventType
from inbox import erasure, retention
from inbox.models import Contact, Conversation, Message, Note, Reply, ReplyState
from tests.inbox_factories import make_channel, make_contact, make_conversation

REASON = "Erasure request ER-2026-031"


@pytest.fixture
def jane(personas):
    """Jane's own DM conversation (with our reply and a note), her comment in someone else's thread, and Bob's."""
    org = personas.a
    channel = make_channel(org)
    person = make_contact(org, name="Jane Resident", handle="@jane_r")
    Contact.objects.filter(pk=person.pk).update(avatar_url="https://cdn.example/jane.png")
    theirs = make_conversation(org, channel=channel, contact=person, text="Jane here, 4 Mill Lane, bins missed", messages=2)
    Message.objects.filter(conversation=theirs).update(url="https://x.example/jane_r/status/1", sentiment=-0.4, flagged=True)
    bob = make_contact(org, name="Bob Other")
    thread = make_conversation(org, channel=channel, contact=bob, text="Bob: the park gate is broken")
    Message.objects.create(
        organisation=org.organisation, channel=channel, conversation=thread, platform_message_id="jane-comment",
        kind="comment", text="Jane again: same on Mill Lane", author=person, created_at=timezone.now(),
    )  # fmt: skip
    Conversation.objects.filter(pk=thread.pk).update(last_message_preview="Jane again: same on Mill Lane")
    reply = Reply.objects.create(
        organisation=org.organisation, conversation=theirs, channel=channel, text="Hi Jane, booked for Monday.",
        state=ReplyState.SENT, sent_at=timezone.now(), platform_id="sent-1",
    )  # fmt: skip
    note = Note.objects.create(organisation=org.organisation, conversation=theirs, text="Jane is vulnerable; call her back.")
    return {"person": person, "theirs": theirs, "thread": thread, "bob": bob, "reply": reply, "note": note}


def _kpis(org):
    return (
        sorted(Message.objects.filter(organisation=org.organisation).values_list(
            "id", "conversation_id", "author_id", "direction", "kind", "created_at", "sentiment", "flagged")),
        sorted(Conversation.objects.filter(organisation=org.organisation).values_list(
            "id", "message_count", "status", "flagged", "first_responded_at", "created_at")),
        sorted(Reply.objects.filter(organisation=org.organisation).values_list("id", "state", "sent_at", "created_at")),
        Contact.objects.filter(organisation=org.organisation).count(),
    )  # fmt: skip


def test_erasure_redacts_their_words_and_profile_everywhere(personas, jane):
    before = _kpis(personas.a)

    counts = erasure.contact_erase(actor=personas.a.members["admin"], contact_id=jane["person"].pk, reason=REASON)

    person = Contact.objects.get(pk=jane["person"].pk)
    assert (person.name, person.handle, person.avatar_url) == ("", "", "")
    assert person.platform_user_id == f"erased-{person.pk}"
    assert person.erased_at is not None
    for message in Message.objects.filter(author=person):
        assert (message.text, message.url) == (erasure.ERASED_TEXT, "")
        assert message.redacted_at is not None
    jane["reply"].refresh_from_db()
    jane["note"].refresh_from_db()
    assert jane["reply"].text == erasure.ERASED_TEXT and jane["reply"].state == ReplyState.SENT
    assert jane["note"].text == erasure.ERASED_TEXT
    for conversation in (jane["theirs"], jane["thread"]):
        conversation.refresh_from_db()
        assert conversation.last_message_preview == ""
    # Bob's words stay.
    assert Message.objects.get(conversation=jane["thread"], author=jane["bob"]).text == "Bob: the park gate is broken"
    assert Contact.objects.get(pk=jane["bob"].pk).name == "Bob Other"
    assert counts == {"messages": 3, "replies": 1, "notes": 1, "conversations": 2, "quarantined_items": 0}
    assert _kpis(personas.a) == before
    everything = json.dumps(list(Message.objects.values_list("text", "url"))) + json.dumps(
        list(Contact.objects.values_list("name", "handle", "avatar_url"))
    )
    assert "Jane" not in everything and "jane" not in everything


def test_the_reason_and_counts_are_audited_never_the_personal_data(personas, jane):
    erasure.contact_erase(actor=personas.a.members["admin"], contact_id=jane["person"].pk, reason=REASON)

    event = AuditEvent.objects.get(event_type=EventType.CONTACT_ERASED)
    assert event.actor_id == personas.a.members["admin"].user_id
    assert event.changes["reason"] == REASON
    assert event.changes["messages"] == 3
    assert (event.target_type, event.target_id) == ("inbox.contact", str(jane["person"].pk))
    assert "Jane" not in json.dumps([event.target_repr, event.changes])


@pytest.mark.parametrize("reason", ["", "   ", "too short", None, "x" * 501])
def test_a_reason_is_required(personas, jane, reason):
    with pytest.raises(ValidationError) as error:
        erasure.contact_erase(actor=personas.a.members["admin"], contact_id=jane["person"].pk, reason=reason)
    assert "reason" in error.value.message_dict
    assert Contact.objects.get(pk=jane["person"].pk).erased_at is None


def test_a_legal_hold_on_the_contact_refuses_erasure(personas, jane):
    admin = personas.a.members["admin"]
    retention.contact_legal_hold(actor=admin, contact_id=jane["person"].pk, hold=True, reason="Litigation hold LH-12")

    with pytest.raises(erasure.LegalHoldError, match="legal hold"):
        erasure.contact_erase(actor=admin, contact_id=jane["person"].pk, reason=REASON)

    assert Contact.objects.get(pk=jane["person"].pk).name == "Jane Resident"
    assert not Message.objects.filter(redacted_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(event_type=EventType.CONTACT_ERASED).exists()


def test_a_legal_hold_on_a_conversation_with_their_messages_refuses_erasure(personas, jane):
    admin = personas.a.members["admin"]
    # Bob's thread holds one of Jane's comments.
    retention.conversation_legal_hold(actor=admin, conversation_id=jane["thread"].pk, hold=True, reason="Complaint CMP-88")

    with pytest.raises(erasure.LegalHoldError, match=str(jane["thread"].pk)):
        erasure.contact_erase(actor=admin, contact_id=jane["person"].pk, reason=REASON)
    assert not Message.objects.filter(redacted_at__isnull=False).exists()


def test_a_reply_still_being_sent_refuses_erasure(personas, jane):
    Reply.objects.create(
        organisation=personas.a.organisation, conversation=jane["theirs"], channel=jane["theirs"].channel,
        text="Hi Jane, on its way", state=ReplyState.SENDING,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="still waiting"):
        erasure.contact_erase(actor=personas.a.members["admin"], contact_id=jane["person"].pk, reason=REASON)


def test_erasing_twice_is_refused(personas, jane):
    admin = personas.a.members["admin"]
    erasure.contact_erase(actor=admin, contact_id=jane["person"].pk, reason=REASON)
    with pytest.raises(ValidationError, match="already erased"):
        erasure.contact_erase(actor=admin, contact_id=jane["person"].pk, reason=REASON)
    assert AuditEvent.objects.filter(event_type=EventType.CONTACT_ERASED).count() == 1


@pytest.mark.parametrize("role", ["manager", "approver", "editor", "agent", "viewer"])
def test_only_admins_erase(personas, jane, role):
    with pytest.raises(PermissionDenied):
        erasure.contact_erase(actor=personas.a.members[role], contact_id=jane["person"].pk, reason=REASON)
    assert Contact.objects.get(pk=jane["person"].pk).erased_at is None


def test_another_organisations_admin_cannot_erase(personas, jane):
    with pytest.raises(Contact.DoesNotExist):
        erasure.contact_erase(actor=personas.outsider, contact_id=jane["person"].pk, reason=REASON)
    assert Contact.objects.get(pk=jane["person"].pk).erased_at is None


# -------------------------------------------------------------------------------------------- pages
def test_admin_erases_through_the_confirmation_page(personas, jane, login, client):
    login(personas.a.members["admin"])
    url = f"/inbox/contacts/{jane['person'].pk}/erase/"
    page = client.get(url)
    assert page.status_code == 200
    assert "Jane Resident" in page.content.decode() and "Erase this contact" in page.content.decode()

    unconfirmed = client.post(url, {"reason": REASON})
    assert unconfirmed.status_code == 400
    assert "Tick the box" in unconfirmed.content.decode()
    short = client.post(url, {"reason": "no", "confirm": "on"})
    assert short.status_code == 400 and "at least 10 characters" in short.content.decode()
    assert Contact.objects.get(pk=jane["person"].pk).erased_at is None

    done = client.post(url, {"reason": REASON, "confirm": "on"}, follow=True)
    assert done.status_code == 200
    assert "Contact erased" in done.content.decode()
    assert "Jane Resident" not in done.content.decode()
    assert Contact.objects.get(pk=jane["person"].pk).erased_at is not None


def test_the_page_shows_the_hold_and_refuses(personas, jane, login, client):
    retention.contact_legal_hold(
        actor=personas.a.members["admin"], contact_id=jane["person"].pk, hold=True, reason="Litigation hold LH-12"
    )
    login(personas.a.members["admin"])
    url = f"/inbox/contacts/{jane['person'].pk}/erase/"
    assert "Release the hold" in client.get(url).content.decode()
    response = client.post(url, {"reason": REASON, "confirm": "on"})
    assert response.status_code == 400
    assert "under a legal hold" in response.content.decode()


def test_erase_page_roles_and_tenancy(personas, jane, login, client):
    url = f"/inbox/contacts/{jane['person'].pk}/erase/"
    login(personas.a.members["manager"])
    assert client.get(url).status_code == 403
    assert client.post(url, {"reason": REASON, "confirm": "on"}).status_code == 403
    login(personas.outsider)
    assert client.get(url).status_code == 404
    assert client.post(url, {"reason": REASON, "confirm": "on"}).status_code == 404
    assert Contact.objects.get(pk=jane["person"].pk).erased_at is None


def test_legal_hold_pages_set_and_release(personas, jane, login, client):
    login(personas.a.members["admin"])
    url = f"/inbox/{jane['theirs'].pk}/legal-hold/"
    assert "Set a legal hold" in client.get(url).content.decode()
    assert client.post(url, {"reason": "x"}).status_code == 400
    client.post(url, {"reason": "Complaint CMP-42 open"})
    assert Conversation.objects.get(pk=jane["theirs"].pk).legal_hold
    assert "Release the legal hold" in client.get(url).content.decode()
    client.post(url, {"reason": "Complaint CMP-42 closed"})
    assert not Conversation.objects.get(pk=jane["theirs"].pk).legal_hold
    assert list(
        AuditEvent.objects.filter(event_type__in=[EventType.LEGAL_HOLD_SET, EventType.LEGAL_HOLD_RELEASED])
        .order_by("id")
        .values_list("event_type", flat=True)
    ) == [EventType.LEGAL_HOLD_SET, EventType.LEGAL_HOLD_RELEASED]

    contact_url = f"/inbox/contacts/{jane['person'].pk}/legal-hold/"
    client.post(contact_url, {"reason": "Litigation hold LH-99"})
    assert Contact.objects.get(pk=jane["person"].pk).legal_hold
    login(personas.outsider)
    assert client.post(contact_url, {"reason": "Litigation hold LH-99"}).status_code == 404
    login(personas.a.members["agent"])
    assert client.post(url, {"reason": "Complaint CMP-42 open"}).status_code == 403


def test_retention_settings_page(personas, login, client):
    login(personas.a.members["admin"])
    page = client.get("/inbox/settings/retention/")
    assert page.status_code == 200 and "Retention and legal holds" in page.content.decode()
    bad = client.post("/inbox/settings/retention/", {"message_retention_days": "10", "audit_retention_days": "2555"})
    assert bad.status_code == 200 and "30" in bad.content.decode()
    client.post("/inbox/settings/retention/", {"message_retention_days": "400", "audit_retention_days": "2555"})
    assert retention.policy_for(personas.a.organisation.pk).message_retention_days == 400
    login(personas.a.members["manager"])
    assert client.get("/inbox/settings/retention/").status_code == 403


def test_retention_after_erasure_keeps_counting(personas, jane):
    """Erased content is not redacted again (its stamp stays), and the run's counts do not include it."""
    erasure.contact_erase(actor=personas.a.members["admin"], contact_id=jane["person"].pk, reason=REASON)
    stamps = sorted(Message.objects.filter(author=jane["person"]).values_list("id", "redacted_at"))
    counts = retention.run_retention(now=timezone.now() + timedelta(days=800))[personas.a.organisation.pk]
    assert sorted(Message.objects.filter(author=jane["person"]).values_list("id", "redacted_at")) == stamps
    assert counts["messages_redacted"] == 1  # Bob's only


def test_erasure_leaves_no_platform_id_in_dm_keys_and_the_trail_holds_no_reply_text(personas):
    """The DM conversation key carries the person's platform id; reply audit events carry a hash, not words."""
    from audit.models import AuditEvent
    from inbox.erasure import contact_erase
    from inbox.models import ConversationKind
    from inbox.replies import reply_create
    from tests.inbox_factories import make_channel, make_contact, make_conversation

    a = personas.a
    channel = make_channel(a, platform="x")
    contact = make_contact(a, platform="x", name="Jane Doe")
    dm = make_conversation(a, channel=channel, contact=contact, kind=ConversationKind.PRIVATE, text="Hi, I'm Jane")
    dm.key = f"{contact.platform_user_id}-123"
    dm.save(update_fields=["key"])
    reply = reply_create(actor=a.members["agent"], conversation_id=dm.pk, text="Thanks Jane, we will call you.",
                         mode="dm")
    type(reply).objects.filter(pk=reply.pk).update(state="sent")  # delivered (the platform is not the subject here)
    contact_erase(actor=a.members["admin"], contact_id=contact.pk, reason="Subject access: erasure request")
    dm.refresh_from_db()
    assert contact.platform_user_id not in dm.key and dm.key == f"erased:{dm.pk}"
    trail = list(AuditEvent.objects.for_organisation(a.organisation).values_list("changes", flat=True))
    assert not any("Jane" in str(changes) for changes in trail)


# ------------------------------------------------------------------------------------------ quarantine
def _quarantined(org, channel, raw, error="author is missing"):
    from inbox.models import QuarantinedItem

    return QuarantinedItem.objects.create(organisation=org.organisation, channel=channel, source="poll", raw=raw,
                                          error=error, platform_message_id=str(raw.get("id", "")) if isinstance(raw, dict) else "")


def test_erasure_redacts_quarantined_payloads_that_name_them_and_only_those(personas, jane):
    """Quarantined items are raw platform JSON: those from the contact's platform holding their id, handle or name
    (or whose error names them) lose payload and error; Bob's, a look-alike id, another platform's and another
    organisation's stay as they were."""
    from inbox.models import QuarantinedItem

    a, person = personas.a, jane["person"]
    x = jane["theirs"].channel
    uid = person.platform_user_id
    by_id = _quarantined(a, x, {"id": "q1", "text": "Jane here, my bins", "author_id": uid,
                                "entities": {"mentions": [{"id": 7}]}}, error="created_at is missing")
    by_handle = _quarantined(a, x, {"id": "q2", "includes": {"users": [{"username": "JANE_R", "id": None}]}})
    by_error = _quarantined(a, x, {"id": "q3", "broken": True},
                            error="unreadable item: could not parse the reply from Jane Resident")
    keyed = _quarantined(a, x, {"id": "q4", "users": {uid: {"protected": False}}})
    bob = _quarantined(a, x, {"id": "q5", "text": "Bob's gate", "author_id": jane["bob"].platform_user_id})
    look_alike = _quarantined(a, x, {"id": "q6", "author_id": f"{uid}9", "text": "jane_r2 says hello"})
    mastodon = make_channel(a, platform="mastodon")
    other_platform = _quarantined(a, mastodon, {"id": "q7", "account": {"id": uid, "acct": "jane_r"}})
    b_channel = make_channel(personas.b, department="Digital Desk", platform="x")
    other_org = _quarantined(personas.b, b_channel, {"id": "q8", "author_id": uid})
    untouched = {q.pk: (q.raw, q.error, q.resolved_at) for q in (bob, look_alike, other_platform, other_org)}

    counts = erasure.contact_erase(actor=a.members["admin"], contact_id=person.pk, reason=REASON)

    assert counts["quarantined_items"] == 4
    for item in (by_id, by_handle, by_error, keyed):
        item.refresh_from_db()
        assert item.raw == {"erased": erasure.ERASED_TEXT} and item.error == erasure.ERASED_TEXT, item.pk
        assert item.resolved_at is not None
        assert "jane" not in json.dumps(item.raw).lower() and uid not in json.dumps(item.raw)
    for pk, before in untouched.items():
        item = QuarantinedItem.objects.get(pk=pk)
        assert (item.raw, item.error, item.resolved_at) == before, pk
    event = AuditEvent.objects.get(event_type=EventType.CONTACT_ERASED)
    assert event.changes["quarantined_items"] == 4 and uid not in json.dumps(event.changes)


def test_a_refused_erasure_leaves_quarantine_alone(personas, jane):
    a, person = personas.a, jane["person"]
    item = _quarantined(a, jane["theirs"].channel, {"id": "q1", "author_id": person.platform_user_id})
    retention.contact_legal_hold(actor=a.members["admin"], contact_id=person.pk, hold=True, reason="Litigation hold LH-12")
    with pytest.raises(erasure.LegalHoldError):
        erasure.contact_erase(actor=a.members["admin"], contact_id=person.pk, reason=REASON)
    item.refresh_from_db()
    assert item.raw["author_id"] == person.platform_user_id and item.resolved_at is None
