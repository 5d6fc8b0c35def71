"""The conversation page: the whole history in one timeline, the contact panel, the reply box and the actions.

Reads go through the organisation-scoped QuerySet methods; every write is one call to inbox.services or
inbox.replies, then a redirect back to the page with a message. The page costs a fixed number of queries
however long the history is (tests/inbox/test_conversation_page.py pins it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Department, Notification, User
from accounts.roles import Capability
from audit.models import AuditEvent, EventType
from channels_app import text as platform_text
from inbox import presence, replies, services
from inbox.models import (
    Conversation,
    ConversationKind,
    ConversationStatus,
    Message,
    MessageDirection,
    Note,
    Priority,
    Reply,
    ReplyMode,
    ReplyState,
    SavedReply,
)
from inbox.replies import DM_FROM_PUBLIC, DM_LIMITS, FACEBOOK_COMMENT_LIMIT
from inbox.settings_services import render_saved_reply
from smm.scoping import get_visible_or_404, member_required

# The audit events that change how a conversation is worked; notes and replies have rows of their own.
TIMELINE_EVENTS = [
    EventType.CONVERSATION_ASSIGNED,
    EventType.CONVERSATION_STATUS_CHANGED,
    EventType.CONVERSATION_TAGS_CHANGED,
    EventType.CONVERSATION_PRIORITY_CHANGED,
    EventType.CONVERSATION_REOPENED,
]
EARLIER_CONVERSATIONS = 10
PRIORITY_CHOICE_ERROR = "Choose low, normal, high or urgent."

# Each platform's limit for a public reply and for a direct message (the limits inbox.replies checks), and how
# static/inbox/conversation.js counts towards each ("weighted": twitter-text; "urls": Mastodon's graphemes with
# every link as 23; "graphemes": Bluesky; "codepoints": as Python's len(); "bytes": UTF-8 bytes).
COUNTERS: dict[str, dict[str, Any]] = {
    platform_text.X: {
        "public": platform_text.X_MAX_WEIGHTED_LENGTH, "method": "weighted",
        "dm": DM_LIMITS["x"], "method_dm": "codepoints",
    },
    platform_text.MASTODON: {
        "public": platform_text.MASTODON_MAX_CHARACTERS, "method": "urls",
        # A Mastodon direct message is a status: the same rules.
        "dm": platform_text.MASTODON_MAX_CHARACTERS, "method_dm": "urls",
    },
    platform_text.BLUESKY: {
        "public": platform_text.BLUESKY_MAX_GRAPHEMES, "method": "graphemes",
        "dm": DM_LIMITS["bluesky"], "method_dm": "graphemes",
    },
    platform_text.INSTAGRAM: {
        "public": platform_text.INSTAGRAM_MAX_CHARACTERS, "method": "codepoints",
        "dm": DM_LIMITS["instagram"], "method_dm": "bytes",
    },
    platform_text.FACEBOOK: {
        # Our public answers on Facebook are comments, which have their own, lower limit.
        "public": FACEBOOK_COMMENT_LIMIT, "method": "codepoints",
        "dm": DM_LIMITS["facebook"], "method_dm": "codepoints",
    },
}
COUNTING_HINTS = {
    "weighted": "as X counts them: every link counts as 23, emoji and Chinese, Japanese or Korean characters as 2",
    "urls": "as Mastodon counts them: every link counts as 23",
    "graphemes": "as Bluesky counts them",
    "codepoints": "",
    "bytes": "counted in bytes: accented letters and emoji take more than one",
}


# ------------------------------------------------------------------------------------------- timeline
@dataclass
class Entry:
    """One row of the timeline: an inbound or outbound message, one of our replies, a note or a change."""

    kind: str  # "message", "reply", "note" or "change"
    at: datetime
    obj: Any
    # Breaks ties between rows of the same instant: the message before our answer to it.
    order: int = 0
    # For notes: the text cut into (segment, is_mention) pieces; for changes: the sentences.
    parts: list = field(default_factory=list)


def _note_parts(note: Note) -> list[tuple[str, bool]]:
    """The note's text in pieces, marking the @mentions that reached someone."""
    names: set[str] = set()
    for user in note.mentions.all():
        email = user.email.lower()
        names.update({email, email.split("@")[0]})
    parts: list[tuple[str, bool]] = []
    last = 0
    for match in services.MENTION.finditer(note.text):
        token = match.group(1).rstrip(".").lower()
        if token not in names:
            continue
        start, end = match.start(), match.start() + 1 + len(match.group(1).rstrip("."))
        if start > last:
            parts.append((note.text[last:start], False))
        parts.append((note.text[start:end], True))
        last = end
    if last < len(note.text):
        parts.append((note.text[last:], False))
    return parts


def _status_label(value: Any) -> str:
    try:
        return ConversationStatus(value).label
    except ValueError:
        return str(value)


def _change_sentences(event: AuditEvent) -> list[str]:
    """What an audit event changed, in words (the values are frozen in the event, so names stay as they were)."""
    changes = event.changes or {}
    sentences = []
    if event.event_type == EventType.CONVERSATION_REOPENED:
        return ["Reopened by a new message"]
    if "department" in changes:
        sentences.append(f"Moved from {changes['department'].get('from')} to {changes['department'].get('to')}")
    if "assignee" in changes:
        to = changes["assignee"].get("to")
        sentences.append(f"Assigned to {to}" if to else "Unassigned")
    if "status" in changes:
        sentences.append(
            f"Status changed from {_status_label(changes['status'].get('from'))} "
            f"to {_status_label(changes['status'].get('to'))}"
        )
    if "priority" in changes:
        sentences.append(f"Priority changed from {changes['priority'].get('from')} to {changes['priority'].get('to')}")
    if "tags" in changes:
        before = {t.lower(): t for t in changes["tags"].get("from") or []}
        after = {t.lower(): t for t in changes["tags"].get("to") or []}
        added = [after[k] for k in after if k not in before]
        removed = [before[k] for k in before if k not in after]
        if added:
            sentences.append("Tagged " + ", ".join(added))
        if removed:
            sentences.append("Tag removed: " + ", ".join(removed))
    return sentences or [event.get_event_type_display()]


def build_timeline(conversation: Conversation) -> list[Entry]:
    """The whole history in time order; five queries (six with the notes' mentions) whatever its length."""
    replies = list(conversation.replies.select_related("author", "approved_by").order_by("created_at", "id"))
    ours = {r.platform_id for r in replies if r.platform_id}
    entries: list[Entry] = []
    for message in Message.objects.filter(conversation=conversation).timeline():
        # Our own replies are shown from their Reply row (with who sent it and its delivery state).
        if message.direction == MessageDirection.OUTBOUND and message.platform_message_id in ours:
            continue
        entries.append(Entry("message", message.created_at, message, order=0))
    for reply in replies:
        entries.append(Entry("reply", reply.created_at, reply, order=1))
    notes = conversation.notes.select_related("author").prefetch_related("mentions").order_by("created_at", "id")
    for note in notes:
        entries.append(Entry("note", note.created_at, note, order=2, parts=_note_parts(note)))
    events = (
        AuditEvent.objects.for_organisation(conversation.organisation_id)
        .for_target("inbox.conversation", conversation.pk)
        .filter(event_type__in=TIMELINE_EVENTS)
        .order_by("occurred_at", "id")
    )
    for event in events:
        entries.append(Entry("change", event.occurred_at, event, order=3, parts=_change_sentences(event)))
    entries.sort(key=lambda e: (e.at, e.order))
    return entries


# ----------------------------------------------------------------------------------------- the page
def _conversation_or_404(request: HttpRequest, pk: int, capability: Capability | None = None) -> Conversation:
    queryset = Conversation.objects.select_related("channel", "contact", "assignee", "department").prefetch_related(
        "tags"
    )
    return get_visible_or_404(queryset, request.membership, capability, pk=pk)


def _modes(conversation: Conversation) -> list[tuple[str, str]]:
    # A direct-message thread is answered privately; a public one in public, or privately where the platform
    # lets us message someone who has not written to us privately first (inbox.replies.effective_mode).
    if conversation.kind == ConversationKind.PRIVATE:
        return [(ReplyMode.DM.value, ReplyMode.DM.label)]
    if conversation.platform in DM_FROM_PUBLIC:
        return [(ReplyMode.PUBLIC.value, ReplyMode.PUBLIC.label), (ReplyMode.DM.value, ReplyMode.DM.label)]
    return [(ReplyMode.PUBLIC.value, ReplyMode.PUBLIC.label)]


def _presence_text(conversation: Conversation, user: User) -> str:
    """ "Sam is replying; Alex is viewing": colleagues here now (Redis; static/inbox/presence.js keeps it fresh)."""
    presence.presence_touch(conversation.pk, user, presence.VIEWING)
    return presence.describe(presence.presence_for([conversation.pk]).get(conversation.pk, []), exclude_user_id=user.pk)


def _saved_replies(request: HttpRequest, conversation: Conversation) -> list[dict]:
    saved = SavedReply.objects.visible_to(request.membership).for_department(conversation.department_id)
    return [
        {"pk": s.pk, "title": s.title, "text": render_saved_reply(s, conversation, request.membership)} for s in saved
    ]


def _counter(conversation: Conversation, mode: str, text: str) -> dict:
    platform = conversation.platform
    counter = COUNTERS.get(platform, COUNTERS[platform_text.FACEBOOK])
    dm = mode == ReplyMode.DM
    method = counter["method_dm" if dm else "method"]
    limit = counter["dm" if dm else "public"]
    # The server's own count, so a re-rendered form shows the verdict the send was refused on.
    if method in ("weighted", "urls"):
        length = platform_text.validate_text(platform, text).length
    elif method == "graphemes":
        length = platform_text.grapheme_count(text)
    elif method == "bytes":
        length = len(text.encode())
    else:
        length = len(text)
    return {
        "method": counter["method"],
        "method_dm": counter["method_dm"],
        "limit_public": counter["public"],
        "limit_dm": counter["dm"],
        "limit": limit,
        "length": length,
        "over": length > limit,
        "hint": COUNTING_HINTS[method],
    }


def service_level(conversation: Conversation, now: datetime | None = None) -> dict:
    """The conversation's service-level state for the page.

    Overdue follows the inbox filter's rule (inbox/filters.py): not closed, and either the first response is
    past due with no response yet, or the resolution is past due.
    """
    now = now or timezone.now()
    open_ = conversation.status != ConversationStatus.CLOSED
    first_due = conversation.first_response_due_at
    responded = conversation.first_responded_at
    resolution_due = conversation.resolution_due_at
    first_late = bool(open_ and first_due and responded is None and first_due < now)
    resolution_late = bool(open_ and resolution_due and resolution_due < now)
    late = []
    if first_late:
        late.append("the first response")
    if resolution_late:
        late.append("the resolution")
    return {
        "first_due": first_due,
        "first_responded": responded,
        # Answered, but only after the target had passed.
        "first_met_late": bool(responded and first_due and responded > first_due),
        "first_late": first_late,
        "resolution_due": resolution_due,
        "resolution_late": resolution_late,
        "closed_at": conversation.closed_at if not open_ else None,
        "overdue": first_late or resolution_late,
        "overdue_text": " and ".join(late),
    }


def render_page(
    request: HttpRequest,
    conversation: Conversation,
    *,
    reply_text: str = "",
    reply_mode: str = "",
    reply_errors: list[str] | None = None,
    note_text: str = "",
    note_errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    membership = request.membership
    can_work = membership.can(Capability.WORK_INBOX)
    modes = _modes(conversation)
    if reply_mode not in {m for m, _ in modes}:
        reply_mode = modes[0][0]
    earlier = list(
        Conversation.objects.visible_to(membership)
        .filter(contact_id=conversation.contact_id)
        .exclude(pk=conversation.pk)
        .select_related("channel")
        .order_by("-last_message_at", "-id")[:EARLIER_CONVERSATIONS]
    )
    context = {
        "conversation": conversation,
        "contact": conversation.contact,
        "timeline": build_timeline(conversation),
        "earlier": earlier,
        "presence_text": _presence_text(conversation, request.user),
        "can_work": can_work,
        "can_approve": membership.can(Capability.APPROVE_REPLIES),
        "tags_text": ", ".join(t.name for t in conversation.tags.all()),
        "statuses": ConversationStatus.choices,
        "priorities": Priority.choices,
        "modes": modes,
        "reply_mode": reply_mode,
        "reply_text": reply_text,
        "reply_errors": reply_errors or [],
        "note_text": note_text,
        "note_errors": note_errors or [],
        "counter": _counter(conversation, reply_mode, reply_text),
        "sla": service_level(conversation),
    }
    if can_work:
        context["members"] = list(
            services.assignable_members(conversation.organisation_id, conversation.department_id)
        )
        context["departments"] = list(
            Department.objects.for_organisation(conversation.organisation_id).active().order_by("name")
        )
        context["saved_replies"] = _saved_replies(request, conversation)
    return render(request, "inbox/conversation.html", context, status=status)


@member_required()
@require_GET
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_page(request, _conversation_or_404(request, pk))


# ----------------------------------------------------------------------------------------- replies
def _messages_of(error: ValidationError) -> list[str]:
    return list(error.messages)


@member_required()
@require_POST
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation_or_404(request, pk, Capability.WORK_INBOX)
    text = request.POST.get("text", "")
    mode = request.POST.get("mode", "")
    if "insert" in request.POST:
        # Without JavaScript, "Insert" posts here and the form comes back with the saved reply's text added.
        chosen = next((s for s in _saved_replies(request, conversation) if str(s["pk"]) == request.POST.get("saved_reply")), None)
        if chosen is None:
            return render_page(request, conversation, reply_text=text, reply_mode=mode,
                               reply_errors=["Choose a saved reply to insert."], status=400)
        joined = f"{text.rstrip()}\n\n{chosen['text']}" if text.strip() else chosen["text"]
        return render_page(request, conversation, reply_text=joined, reply_mode=mode)
    try:
        created = replies.reply_create(actor=request.membership, conversation_id=conversation.pk, text=text, mode=mode)
    except ValidationError as error:
        return render_page(request, conversation, reply_text=text, reply_mode=mode,
                           reply_errors=_messages_of(error), status=400)
    except Conversation.DoesNotExist:
        raise Http404("Not found.") from None
    if created.state == ReplyState.AWAITING_APPROVAL:
        messages.success(request, "Your reply is waiting for approval before it is sent.")
    else:
        messages.success(request, "Your reply is queued and will be sent in a moment.")
    return redirect("inbox:conversation", pk=conversation.pk)


def _reply_action(request: HttpRequest, pk: int, capability: Capability, action: str, done: str) -> HttpResponse:
    the_reply = get_visible_or_404(Reply.objects.all(), request.membership, capability, pk=pk)
    kwargs: dict[str, Any] = {"actor": request.membership, "reply_id": the_reply.pk}
    if action == "reply_reject":
        kwargs["reason"] = request.POST.get("reason", "").strip()[:500]
    try:
        getattr(replies, action)(**kwargs)
    except ValidationError as error:
        messages.error(request, " ".join(_messages_of(error)))
    except (Reply.DoesNotExist, Conversation.DoesNotExist):
        raise Http404("Not found.") from None
    else:
        messages.success(request, done)
    return redirect("inbox:conversation", pk=the_reply.conversation_id)


@member_required()
@require_POST
def reply_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _reply_action(request, pk, Capability.WORK_INBOX, "reply_retry", "The reply is queued to be sent again.")


@member_required()
@require_POST
def reply_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _reply_action(request, pk, Capability.APPROVE_REPLIES, "reply_approve", "Reply approved; it is being sent.")


@member_required()
@require_POST
def reply_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _reply_action(request, pk, Capability.APPROVE_REPLIES, "reply_reject", "Reply rejected; it will not be sent.")


# ----------------------------------------------------------------------------------------- actions
def _whole_number(raw: object) -> int | None:
    """An id or a number typed by a person: plain ASCII digits (an optional minus for numbers), else None.

    str.isdigit() alone accepts characters such as "²" that int() refuses, which would be a 500.
    """
    text = str(raw).strip()
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()):
        return None
    return int(text)


def _id(raw: object) -> int | None:
    """A primary key from a form: a positive whole number that fits a bigint column, else None."""
    value = _whole_number(raw)
    return value if value is not None and 0 < value < 2**63 else None


def _after_action(request: HttpRequest, conversation: Conversation) -> HttpResponse:
    """Back to the page, or to the inbox when the change took the conversation out of the person's sight."""
    if Conversation.objects.visible_to(request.membership).filter(pk=conversation.pk).exists():
        return redirect("inbox:conversation", pk=conversation.pk)
    return redirect("inbox:list")


def _run(request: HttpRequest, conversation: Conversation, call, done: str) -> HttpResponse:
    try:
        call()
    except ValidationError as error:
        messages.error(request, " ".join(_messages_of(error)))
    except Conversation.DoesNotExist:
        raise Http404("Not found.") from None
    else:
        messages.success(request, done)
    return _after_action(request, conversation)


@member_required()
@require_POST
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation_or_404(request, pk, Capability.WORK_INBOX)
    membership = request.membership
    if "department" in request.POST:
        department_id = _id(request.POST["department"])
        department = (
            Department.objects.for_organisation(membership.organisation_id).filter(pk=department_id).first()
            if department_id is not None else None
        )
        if department is None:
            messages.error(request, "Choose a department of this organisation.")
            return _after_action(request, conversation)
        return _run(
            request, conversation,
            lambda: services.conversation_assign(actor=membership, conversation_id=pk, department=department),
            f"Moved to {department.name}.",
        )
    value = request.POST.get("assignee", "")
    if value == "none":
        return _run(
            request, conversation,
            lambda: services.conversation_assign(actor=membership, conversation_id=pk, unassign=True),
            "Unassigned.",
        )
    user_id = membership.user_id if value == "me" else _id(value)
    assignee = (
        User.objects.filter(
            pk=user_id, memberships__organisation_id=membership.organisation_id, memberships__is_active=True
        ).first()
        if user_id is not None else None
    )
    if assignee is None:
        messages.error(request, "Choose an active member of this organisation.")
        return _after_action(request, conversation)
    return _run(
        request, conversation,
        lambda: services.conversation_assign(actor=membership, conversation_id=pk, assignee=assignee),
        "Assigned to you." if assignee.pk == membership.user_id else f"Assigned to {assignee}.",
    )


@member_required()
@require_POST
def status(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation_or_404(request, pk, Capability.WORK_INBOX)
    value = request.POST.get("status", "")
    return _run(
        request, conversation,
        lambda: services.conversation_set_status(actor=request.membership, conversation_id=pk, status=value),
        f"Status set to {_status_label(value)}.",
    )


@member_required()
@require_POST
def tags(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation_or_404(request, pk, Capability.WORK_INBOX)
    names = request.POST.get("tags", "").split(",")
    return _run(
        request, conversation,
        lambda: services.conversation_set_tags(actor=request.membership, conversation_id=pk, names=names),
        "Tags saved.",
    )


@member_required()
@require_POST
def priority(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation_or_404(request, pk, Capability.WORK_INBOX)
    number = _whole_number(request.POST.get("priority", ""))
    if number not in Priority.values:
        # Refused here, with the service's own words: only these four values ever reach it.
        messages.error(request, PRIORITY_CHOICE_ERROR)
        return _after_action(request, conversation)
    label = Priority(number).label
    return _run(
        request, conversation,
        lambda: services.conversation_set_priority(actor=request.membership, conversation_id=pk, priority=number),
        f"Priority set to {label}.",
    )


@member_required()
@require_POST
def note(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _conversation_or_404(request, pk, Capability.WORK_INBOX)
    text = request.POST.get("text", "")
    try:
        services.note_add(actor=request.membership, conversation_id=pk, text=text)
    except ValidationError as error:
        return render_page(request, conversation, note_text=text, note_errors=_messages_of(error), status=400)
    except Conversation.DoesNotExist:
        raise Http404("Not found.") from None
    messages.success(request, "Note added.")
    return redirect("inbox:conversation", pk=pk)


# ----------------------------------------------------------------------------------- notifications
NOTIFICATIONS_SHOWN = 100


@member_required()
@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    rows = list(
        Notification.objects.visible_to(request.membership).for_user(request.user)[:NOTIFICATIONS_SHOWN]
    )
    return render(
        request,
        "inbox/notifications.html",
        {"notifications": rows, "unread": sum(1 for n in rows if n.read_at is None)},
    )


@member_required()
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    count = services.notifications_mark_read(membership=request.membership)
    messages.success(request, "All notifications marked as read." if count else "No unread notifications.")
    return redirect("inbox:notifications")


urls = [
    path("inbox/<int:pk>/", conversation_detail, name="conversation"),
    path("inbox/<int:pk>/reply/", reply, name="reply"),
    path("inbox/<int:pk>/assign/", assign, name="assign"),
    path("inbox/<int:pk>/status/", status, name="status"),
    path("inbox/<int:pk>/tags/", tags, name="tags"),
    path("inbox/<int:pk>/priority/", priority, name="priority"),
    path("inbox/<int:pk>/note/", note, name="note"),
    path("inbox/replies/<int:pk>/retry/", reply_retry, name="reply_retry"),
    path("inbox/replies/<int:pk>/approve/", reply_approve, name="reply_approve"),
    path("inbox/replies/<int:pk>/reject/", reply_reject, name="reply_reject"),
    path("inbox/notifications/", notifications, name="notifications"),
    path("inbox/notifications/read/", notifications_read, name="notifications_read"),
]
