"""The inbox list: filters, status tabs, keyset pages, live updates, bulk actions and presence heartbeats.

Reads start from `Conversation.objects.visible_to(membership)`; filtering, sorting and paging are
inbox.filters (shared with the API); writes are inbox.services.bulk_apply. The page's script
(static/inbox/list.js) polls `updates` with a signed token: 204 when nothing the member can see
changed, else the re-rendered first page as HTML fragments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timedelta

from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import CharField, F, Value, Window
from django.db.models.functions import Lower, RowNumber
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, path, reverse
from django.utils import dateformat, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.timesince import timesince
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Department, Membership
from accounts.roles import Capability
from channels_app.models import Channel, Platform
from inbox import filters, presence
from inbox.filters import ConversationFilter, FilterError, count_label
from inbox.models import Conversation, ConversationStatus, Priority, Tag
from inbox.services import bulk_apply
from inbox.tone import ANGRY
from smm.scoping import get_visible_or_404, member_required

# Rows whose updated_at falls this far before the token's watermark are looked at again, so a
# transaction that stamped updated_at before the watermark but committed after it is still noticed.
OVERLAP = timedelta(seconds=30)
TOKEN_SALT = "inbox.list.updates"
# Query parameters that are not filters (the live endpoint's own, and paging).
NOT_FILTERS = ("since", "cursor")
# The columns a list row reads (_badges, inbox.filters paging keys), its contact's, channel's, department's and
# assignee's included: the rest of five rows per conversation was read and turned into objects for nothing.
ROW_FIELDS = (
    "id", "status", "priority", "flagged", "sentiment", "risk_terms", "waiting_since", "queue_at", "last_message_at",
    "last_message_preview", "first_response_due_at", "first_responded_at", "resolution_due_at",
    "contact", "contact__name", "contact__handle", "contact__platform_user_id",
    "channel", "channel__platform", "channel__handle", "department", "department__name",
    "assignee", "assignee__full_name", "assignee__email",
)


# ------------------------------------------------------------------------------------------ helpers
def conversation_url(conversation_id: int) -> str:
    try:
        return reverse("inbox:conversation", args=[conversation_id])
    except NoReverseMatch:
        # The conversation page's route belongs to another part of the inbox; until it exists.
        return f"/inbox/{conversation_id}/"


def _query(params: QueryDict, **changes) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    q = params.copy()
    for name in NOT_FILTERS:
        q.pop(name, None)
    for name, value in changes.items():
        q.pop(name, None)
        if value is not None:
            q[name] = value
    return q.urlencode()


def _fingerprint(base, watermark: datetime) -> str:
    """What changed among the conversations the member can see since (watermark - OVERLAP): ids and times."""
    # Served by conversation_updated_idx (organisation, updated_at); only recent changes come back.
    changed = sorted(base.filter(updated_at__gt=watermark - OVERLAP).order_by().values_list("id", "updated_at"))
    return hashlib.sha1(repr([(pk, at.isoformat()) for pk, at in changed]).encode()).hexdigest()[:20]


def _presence_texts(ids: list[int], me: int) -> dict[int, str]:
    found = presence.presence_for(ids)
    return {pk: text for pk, people in found.items() if (text := presence.describe(people, exclude_user_id=me))}


def _presence_fingerprint(texts: dict[int, str]) -> str:
    return hashlib.sha1(json.dumps(sorted(texts.items())).encode()).hexdigest()[:20]


def _token(membership: Membership, watermark: datetime, rows_fp: str, ids: list[int], presence_fp: str) -> str:
    return signing.dumps(
        {"m": membership.pk, "w": watermark.isoformat(), "f": rows_fp, "ids": ids, "p": presence_fp},
        salt=TOKEN_SALT,
        compress=True,
    )


def _read_token(raw: str, membership: Membership) -> dict:
    try:
        data = signing.loads(raw, salt=TOKEN_SALT)
        if data["m"] != membership.pk:
            raise ValueError("another member's token")
        data["w"] = datetime.fromisoformat(data["w"])
        data["ids"] = [int(i) for i in data["ids"]][:500]
        return data
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise FilterError({"since": "This page is out of date; reload it."}) from None


def _tag_names(ids: list[int]) -> dict[int, list[str]]:
    """Each listed conversation's tag names in one query, sorted as the API sorts them (by name, ignoring case).

    Names only: the prefetch (for_list) built a Tag object, a related manager and a queryset per row to show the
    same names, about a tenth of the page's Python time."""
    names: dict[int, list[str]] = {pk: [] for pk in ids}
    if ids:
        through = Conversation.tags.through.objects.filter(conversation_id__in=ids).order_by()
        for conversation_id, name in through.values_list("conversation_id", "tag__name"):
            names[conversation_id].append(name)
        for listed in names.values():
            listed.sort(key=str.lower)
    return names


def _badges(
    rows: list[Conversation], now: datetime, presence_texts: dict[int, str], tag_names: dict[int, list[str]]
) -> None:
    """What each row shows, computed once here so the template only prints (templates/inbox/list_results.html:
    template filters and method calls per row were most of the page's rendering time)."""
    try:
        url_of = reverse("inbox:conversation", args=[0]).rsplit("0/", 1)[0] + "{}/"
    except NoReverseMatch:
        url_of = "/inbox/{}/"
    platforms, statuses, priorities = dict(Platform.choices), dict(ConversationStatus.choices), dict(Priority.choices)
    for row in rows:
        contact, channel = row.contact, row.channel
        # The id as text once: the template prints it five times per row, and an int goes through number
        # localisation each time.
        row.id_text = str(row.pk)
        row.url = url_of.format(row.pk)
        row.contact_text = str(contact)
        row.title = contact.name or contact.handle
        row.handle_text = contact.handle if contact.name and contact.handle else ""
        row.meta = " · ".join(
            (platforms.get(channel.platform, channel.platform), channel.handle, row.department.name,
             statuses.get(row.status, row.status))
        )
        row.priority_label = priorities.get(row.priority, row.priority)
        open_ = row.status != ConversationStatus.CLOSED
        if row.first_responded_at is None and row.first_response_due_at:
            row.due_at = row.first_response_due_at
            row.due_label = "First reply due"
        else:
            row.due_at = row.resolution_due_at
            row.due_label = "Resolve by"
        row.is_overdue = bool(open_ and row.due_at and row.due_at < now)
        row.waiting_for = (now - row.waiting_since) if row.waiting_since and open_ else None
        row.waiting_text = timesince(row.waiting_since, now) if row.waiting_for else ""
        if row.due_at and open_:
            local = timezone.localtime(row.due_at)
            row.due_iso, row.due_text = local.isoformat(), dateformat.format(local, "j M H:i")
        else:
            row.due_iso = row.due_text = ""
        row.assignee_text = f"Assigned to {row.assignee}" if row.assignee_id else "Unassigned"
        row.tag_names = tag_names[row.pk]
        row.flag_labels = []
        if row.risk_terms:
            row.flag_labels.append("At risk: " + ", ".join(str(t) for t in row.risk_terms))
        if row.sentiment is not None and row.sentiment <= ANGRY:
            row.flag_labels.append("Flagged: angry")
        if row.flagged and not row.flag_labels:
            row.flag_labels.append("Flagged")
        row.presence_text = presence_texts.get(row.pk, "")


def _choices(membership: Membership) -> dict[str, list[tuple[str, str]]]:
    """The filter form's lists as (value, label) pairs, narrowed to what the member can see, in one query (a UNION
    ALL of the four lists, each numbered in its own order): four small queries were a tenth of the page's time."""
    departments = Department.objects.for_organisation(membership.organisation_id).active()
    if not membership.sees_all_departments:
        departments = departments.filter(pk__in=membership.department_ids)
    channels = Channel.objects.for_organisation(membership.organisation_id)
    if not membership.sees_all_departments:
        channels = channels.filter(department_id__in=membership.department_ids)
    members = Membership.objects.visible_to(membership).active()
    tags = Tag.objects.for_organisation(membership.organisation_id)
    blank = Value("", output_field=CharField())

    def listed(qs, kind: str, order: list, pk, text, more=blank):
        numbered = qs.order_by().annotate(
            _kind=Value(kind, output_field=CharField()), _pos=Window(RowNumber(), order_by=order), _pk=pk, _text=text,
            _more=more,
        )
        return numbered.values_list("_kind", "_pos", "_pk", "_text", "_more")

    parts = [
        listed(departments, "departments", [F("name").asc()], F("pk"), F("name")),
        listed(channels, "channels", [F("platform").asc(), F("handle").asc()], F("pk"), F("platform"), F("handle")),
        listed(tags, "tags", [Lower("name").asc()], F("pk"), F("name")),
        listed(members, "members", [F("user__full_name").asc(), F("user__email").asc()], F("user_id"),
               F("user__full_name"), F("user__email")),
    ]
    platforms = dict(Platform.choices)
    found: dict[str, list] = {"departments": [], "channels": [], "tags": [], "members": []}
    for kind, position, pk, text, more in parts[0].union(*parts[1:], all=True):
        # The labels as str(Channel) and str(User) give them.
        if kind == "channels":
            label = f"{platforms.get(text, text)} {more}"
        elif kind == "members":
            label = text or more
        else:
            label = text
        found[kind].append((position, str(pk), label))
    return {kind: [(value, label) for _, value, label in sorted(items)] for kind, items in found.items()}


def _filter_options(membership: Membership, params: QueryDict) -> dict[str, list[tuple[str, str, bool]]]:
    """Each select of the filter form as (value, label, selected) triples, the fixed options included, so the
    template only prints them: comparing every option with the query parameter in the template (a lookup and a
    filter per option) cost more than the rest of the form."""
    found = _choices(membership)

    def options(name: str, pairs, first=(), last=()) -> list[tuple[str, str, bool]]:
        chosen = params.get(name)
        return [(str(value), label, str(value) == chosen) for value, label in (*first, *pairs, *last)]

    status = options("status", ConversationStatus.choices, last=[("all", "All")])
    return {
        # "Open (default)" is never marked selected: the form shows it first when no status is chosen.
        "status": [("", "Open (default)", False), *status],
        "assignee": options("assignee", found["members"], first=[("", "Anyone"), ("me", "Mine"), ("unassigned", "Unassigned")]),
        "channel": options("channel", found["channels"], first=[("", "Any channel")]),
        "platform": options("platform", Platform.choices, first=[("", "Any platform")]),
        "department": options("department", found["departments"], first=[("", "Any department")]),
        "tag": options("tag", found["tags"], first=[("", "Any tag")]),
        "priority": options("priority", Priority.choices, first=[("", "Any priority")]),
        # The bulk form's assignees: everyone but the member themself (who is "Me").
        "bulk_assignee": [
            (value, label, False) for value, label in found["members"] if value != str(membership.user_id)
        ],
    }


@dataclasses.dataclass
class ListState:
    rows: list
    next_cursor: str | None
    counts: dict[str, int] | None  # None while searching: see _list_state
    token: str


def _list_state(request: HttpRequest, flt: ConversationFilter) -> ListState:
    membership = request.membership
    base = Conversation.objects.visible_to(membership)
    # The fingerprint first: a change landing between the two reads makes the next poll re-render.
    watermark = timezone.now()
    rows_fp = _fingerprint(base, watermark)
    # Only what a row shows and paging reads (ROW_FIELDS); the tags come from _tag_names, not the prefetch.
    rows, next_cursor = flt.page(flt.apply(base, membership).for_list().prefetch_related(None).only(*ROW_FIELDS))
    # No counts while searching: a common word matches tens of thousands of messages, and counting the matching
    # conversations of each status reads all of them (hundreds of ms on the benchmark's data); the page
    # finds its own rows without that (inbox.filters, ConversationFilter._search_page). The tabs say so.
    counts = None if flt.q else flt.counts(base, membership)
    ids = [row.pk for row in rows]
    texts = _presence_texts(ids, membership.user_id)
    _badges(rows, watermark, texts, _tag_names(ids))
    token = _token(membership, watermark, rows_fp, ids, _presence_fingerprint(texts))
    return ListState(rows=rows, next_cursor=next_cursor, counts=counts, token=token)


def _tabs(request: HttpRequest, flt: ConversationFilter, counts: dict[str, int] | None) -> list[dict]:
    """The status tabs; counts come capped from status_counts and show as "1,000+" past the limit.

    Without counts (a search) each tab's count is None and its label empty."""
    chosen, limit = flt.status, filters.COUNT_LIMIT
    tabs = []
    if counts is None:
        for value, label in [*ConversationStatus.choices, ("all", "All")]:
            current = (not chosen) if value == "all" else chosen == [value]
            tabs.append({"label": label, "count": None, "more": False, "count_label": "",
                         "url": "?" + _query(request.GET, status=value), "current": current})
        return tabs
    for value, label in ConversationStatus.choices:
        n = counts.get(value, 0)
        tabs.append(
            {
                "label": label,
                "count": min(n, limit),
                "more": n > limit,
                "count_label": count_label(n),
                "url": "?" + _query(request.GET, status=value),
                "current": chosen == [value],
            }
        )
    total, more = sum(tab["count"] for tab in tabs), any(tab["more"] for tab in tabs)
    tabs.append(
        {
            "label": "All",
            "count": total,
            "more": more,
            "count_label": count_label(total, limit=total, more=more),
            "url": "?" + _query(request.GET, status="all"),
            "current": not chosen,
        }
    )
    return tabs


def _results_context(request: HttpRequest, flt: ConversationFilter, state: ListState) -> dict:
    return {
        "rows": state.rows,
        "can_work": request.membership.can(Capability.WORK_INBOX),
        "next_url": ("?" + _query(request.GET, cursor=state.next_cursor)) if state.next_cursor else "",
        "first_url": ("?" + _query(request.GET)) if flt.cursor else "",
        "tabs": _tabs(request, flt, state.counts),
        "counted": state.counts is not None,
        "filtered": flt,
    }


# -------------------------------------------------------------------------------------------- views
@member_required()
@require_GET
def inbox_list(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    context = {
        "options": _filter_options(membership, request.GET),
        "params": request.GET,
        "can_work": membership.can(Capability.WORK_INBOX),
        "here": request.get_full_path(),
        "first_page_url": reverse("inbox:list") + "?" + _query(request.GET),
    }
    try:
        flt = ConversationFilter.from_params(request.GET, default_status=(ConversationStatus.OPEN,))
        state = _list_state(request, flt)
    except FilterError as exc:
        context["filter_errors"] = exc.errors
        return render(request, "inbox/list.html", context, status=400)
    context.update(_results_context(request, flt, state))
    context.update({"token": state.token, "later_page": bool(flt.cursor), "filter": flt})
    return render(request, "inbox/list.html", context)


@member_required()
@require_GET
def inbox_list_updates(request: HttpRequest) -> HttpResponse:
    """204 when nothing the member can see changed since the token; else fragments and a new token (JSON)."""
    membership = request.membership
    try:
        flt = ConversationFilter.from_params(request.GET, default_status=(ConversationStatus.OPEN,))
        since = _read_token(request.GET.get("since", ""), membership)
    except FilterError as exc:
        return JsonResponse({"errors": exc.errors}, status=400)
    base = Conversation.objects.visible_to(membership)
    rows_changed = _fingerprint(base, since["w"]) != since["f"]
    if rows_changed and not flt.cursor:
        state = _list_state(request, flt)
        context = _results_context(request, flt, state)
        return JsonResponse(
            {
                "token": state.token,
                "results_html": render_to_string("inbox/list_results.html", context, request=request),
                "tabs_html": render_to_string("inbox/list_tabs.html", context, request=request),
                "ids": [row.pk for row in state.rows],
            }
        )
    texts = _presence_texts(since["ids"], membership.user_id)
    presence_fp = _presence_fingerprint(texts)
    if not rows_changed and presence_fp == since["p"]:
        return HttpResponse(status=204)
    watermark, rows_fp = since["w"], since["f"]
    if rows_changed:
        # A later page keeps its rows (they would shift under the reader); it offers the first page instead.
        watermark = timezone.now()
        rows_fp = _fingerprint(base, watermark)
    body = {
        "token": _token(membership, watermark, rows_fp, since["ids"], presence_fp),
        "presence": {str(pk): texts.get(pk, "") for pk in since["ids"]},
    }
    if rows_changed:
        body["notice"] = True
        body["first_url"] = reverse("inbox:list") + "?" + _query(request.GET)
    return JsonResponse(body)


@member_required(Capability.WORK_INBOX)
@require_POST
def inbox_bulk(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "")
    value = {"assign": request.POST.get("assignee", ""), "tag": request.POST.get("tag_name", "")}.get(action, "")
    ids = request.POST.getlist("ids")
    try:
        changed = bulk_apply(actor=request.membership, conversation_ids=ids, action=action, value=value)
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    except Conversation.DoesNotExist:
        messages.error(request, "Some of the chosen conversations are no longer available to you. Nothing was changed.")
    else:
        done = {"assign": "assigned", "tag": "tagged", "close": "closed"}[action]
        noun = "conversation" if changed == 1 else "conversations"
        messages.success(request, f"{changed} {noun} {done}." if changed else f"Nothing to change: already {done}.")
    return redirect(_safe_next(request))


@member_required()
@require_POST
def conversation_presence(request: HttpRequest, pk: int) -> HttpResponse:
    """Heartbeat from an open conversation page: state=viewing|replying. Answers who else is there."""
    membership = request.membership
    conversation = get_visible_or_404(Conversation.objects.only("pk"), membership, pk=pk)
    state = request.POST.get("state") or presence.VIEWING
    if state not in presence.STATES:
        return JsonResponse({"errors": {"state": "Use viewing or replying."}}, status=400)
    if state == presence.REPLYING and not membership.can(Capability.WORK_INBOX):
        # Someone who cannot reply is only ever looking.
        state = presence.VIEWING
    if request.POST.get("leave") == "1":
        presence.presence_leave(conversation.pk, request.user)
    else:
        presence.presence_touch(conversation.pk, request.user, state)
    people = presence.presence_for([conversation.pk]).get(conversation.pk, [])
    others = [p for p in people if p["user_id"] != membership.user_id]
    return JsonResponse({"others": others, "text": presence.describe(others)})


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    list_path = reverse("inbox:list")
    if target and target.startswith(list_path) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return list_path


urls = [
    path("inbox/", inbox_list, name="list"),
    path("inbox/updates/", inbox_list_updates, name="list_updates"),
    path("inbox/bulk/", inbox_bulk, name="bulk"),
    path("inbox/<int:pk>/presence/", conversation_presence, name="presence"),
]
