"""Erasing a contact on request (UK GDPR article 17; issue 6 §6; docs/retention.md).

An admin erases one contact, giving a reason (a case reference). In one transaction:
- every message the person wrote, in any conversation: text replaced by a marker, link emptied;
- in the conversations with them (Conversation.contact is the person): our replies and internal notes too,
  because our words to them quote them and name them ("Hi Jane, about your flat at ..."); the reply's state,
  times and platform ids stay, so delivery and response-time KPIs are unchanged;
- the previews of those conversations and of any conversation holding one of their messages;
- the profile: name, handle and picture emptied, and the platform's user id replaced by "erased-<id>", so the
  row can no longer be matched to the person (a new message from them starts a new contact);
- quarantined inbound items (raw platform JSON we could not read) from the contact's platform whose payload holds
  their platform user id, handle or name as a value, or whose error text names them: payload and error replaced by
  the marker, the item marked resolved (nothing is left to look at);
- one CONTACT_ERASED audit event with the reason and the counts, never the personal data.
Ids, times, direction, channel, kind, sentiment and flags stay: the KPIs count the same.

Refused while the contact, or a conversation with them or holding their messages, is under a legal hold, and
while one of our replies to them is still being sent (its text must not change on the way out).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, CharField, F, Q, TextField, Value, When
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from accounts.models import Membership
from audit.models import EventType
from audit.services import record
from inbox.models import Contact, Conversation, ConversationKind, Message, Note, QuarantinedItem, Reply, ReplyState
from inbox.retention import SETTLED_REPLY_STATES, _require_admin, clean_reason

ERASED_TEXT = "[removed: erased at the person's request]"


# Shorter handles and names would match unrelated error text ("al", "Jo"): an error names the person only with one
# of at least this many characters (their platform id always counts).
MIN_NEEDLE = 3


class LegalHoldError(ValidationError):
    """The contact or one of their conversations is under a legal hold: nothing is erased."""


def contact_erase(*, actor: Membership, contact_id: int, reason: object) -> dict[str, int]:
    _require_admin(actor)
    reason = clean_reason(reason)
    now = timezone.now()
    with transaction.atomic():
        contact = Contact.objects.visible_to(actor).select_for_update().filter(pk=contact_id).first()
        if contact is None:
            raise Contact.DoesNotExist("Not found.")
        if contact.erased_at is not None:
            raise ValidationError({"reason": f"This contact was already erased on {contact.erased_at:%-d %B %Y}."})
        conversations = Conversation.objects.for_organisation(contact.organisation_id).filter(
            Q(contact=contact) | Q(messages__author=contact)
        )
        if contact.legal_hold:
            raise LegalHoldError(
                f"This contact is under a legal hold ({contact.legal_hold_reason}). Release the hold before erasing."
            )
        held = sorted(set(conversations.filter(legal_hold=True).values_list("pk", flat=True)))
        if held:
            raise LegalHoldError(
                "Conversations with this contact are under a legal hold: "
                + ", ".join(str(pk) for pk in held)
                + ". Release those holds before erasing."
            )
        theirs = Conversation.objects.filter(organisation_id=contact.organisation_id, contact=contact)
        in_flight = Reply.objects.filter(conversation__in=theirs).exclude(state__in=SETTLED_REPLY_STATES).count()
        if in_flight:
            raise ValidationError(
                f"{in_flight} of our replies to this contact are still waiting, being sent or being checked "
                f"(states other than {', '.join(ReplyState(s).label.lower() for s in SETTLED_REPLY_STATES)}). "
                "Wait for them to finish, or reject those awaiting approval, then erase."
            )

        redacted = {"redacted_at": Coalesce("redacted_at", now)}
        messages = Message.objects.filter(organisation_id=contact.organisation_id, author=contact).update(
            text=ERASED_TEXT, url="", **redacted
        )
        replies = Reply.objects.filter(conversation__in=theirs).update(text=ERASED_TEXT, **redacted)
        notes = Note.objects.filter(conversation__in=theirs).update(text=ERASED_TEXT, **redacted)
        # Direct-message keys carry the person's platform id: replaced, so a new message from them starts afresh.
        touched = Conversation.objects.filter(pk__in=conversations.values("pk")).update(
            last_message_preview="", risk_terms=[], updated_at=now,
            key=Case(When(kind=ConversationKind.PRIVATE, then=Concat(Value("erased:"), Cast("id", CharField()))),
                     default=F("key")),
        )
        Contact.objects.filter(pk=contact.pk).update(
            name="",
            handle="",
            avatar_url="",
            platform_user_id=f"erased-{contact.pk}",
            erased_at=now,
            redacted_at=Coalesce("redacted_at", now),
        )
        quarantined = _erase_quarantined(contact, now)
        counts = {"messages": messages, "replies": replies, "notes": notes, "conversations": touched,
                  "quarantined_items": quarantined}
        record(
            organisation=contact.organisation_id,
            event_type=EventType.CONTACT_ERASED,
            actor=actor.user,
            target=contact,
            target_repr=f"Contact {contact.pk}",
            changes={"reason": reason, "platform": contact.platform, **counts},
        )
    return counts


# ------------------------------------------------------------------------------------------ quarantine
def _identity(contact: Contact) -> tuple[str, set[str]]:
    """The contact's platform id, and the lower-cased texts that name them (handle with and without "@", name)."""
    handle = (contact.handle or "").strip()
    texts = {t.lower() for t in (handle, handle.lstrip("@"), (contact.name or "").strip()) if len(t) >= MIN_NEEDLE}
    return contact.platform_user_id, texts


def _names_them(value: Any, user_id: str, texts: set[str]) -> bool:
    """Whether a JSON value holds the person's id, handle or name as a whole value (the id also as a key) anywhere;
    "12" inside the id "91234" or a name inside someone else's sentence is not a match."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            # Keys can be ids (a payload keyed by user id), never their handle or name ("user", "name").
            if user_id in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int | str):
            text = str(item).strip()
            if text == user_id or text.lower() in texts or text.lower().lstrip("@") in texts:
                return True
    return False


def _error_names_them(error: str, user_id: str, texts: Iterable[str]) -> bool:
    lowered = (error or "").lower()
    return user_id.lower() in lowered or any(t in lowered for t in texts)


def _erase_quarantined(contact: Contact, now) -> int:
    """Quarantined items from the contact's platform that hold their id, handle or name: payload and error replaced.
    SQL narrows by substring (the payload as text, the error); the exact test is _names_them on each candidate."""
    user_id, texts = _identity(contact)
    needles = {user_id, *texts}
    contains = Q()
    for needle in needles:
        contains |= Q(raw_text__icontains=needle) | Q(error__icontains=needle)
    candidates = (
        QuarantinedItem.objects.for_organisation(contact.organisation_id)
        .filter(channel__platform=contact.platform)
        .annotate(raw_text=Cast("raw", TextField()))
        .filter(contains)
        .values_list("pk", "raw", "error")
    )
    ids = [pk for pk, raw, error in candidates
           if _names_them(raw, user_id, texts) or _error_names_them(error, user_id, texts)]
    if not ids:
        return 0
    return QuarantinedItem.objects.filter(pk__in=ids).update(
        raw={"erased": ERASED_TEXT}, error=ERASED_TEXT, resolved_at=Coalesce("resolved_at", Value(now)),
    )
