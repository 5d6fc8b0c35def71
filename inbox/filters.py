"""The inbox list's filters, sorts and keyset paging: one implementation for the page and the API.

`ConversationFilter(params, membership)` validates the query parameters (bad values become clear
errors, never a 500) and `apply(queryset)` narrows an already-scoped queryset. `page()` returns one
keyset page and the cursor of the next; no OFFSET, so a deep page costs what the first does.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.sql.where import WhereNode
from django.utils import timezone

from inbox.models import Contact, Conversation, ConversationStatus, Message, Priority

SORTS = {
    # Flagged first, then the longest waiting; keyset on (flagged, queue_at, id).
    "oldest": ("-flagged", "queue_at", "id"),
    "newest": ("-last_message_at", "-id"),
}
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SEARCH_MIN = 2
SEARCH_MAX = 200
# Ids beyond PostgreSQL's bigint would be a database error, not a clear 400.
MAX_ID = 2**63 - 1
# The status tabs count each status up to this many and then say "1,000+": an exact count reads every
# matching conversation of the organisation (100,000 in the largest), a capped one at most this many.
COUNT_LIMIT = 1000
# A search's page first checks this many conversations of the list's own order, one by one (a few index
# probes each), and only when fewer than a page of them match asks the trigram indexes for every match.
SEARCH_WALK = 1000
# ... and, when that walk found some matches but less than a page, walks on up to this many if its rate of matches
# says they will fill the page (else the plain query: a rare word, few matches, served by the trigram indexes).
SEARCH_WALK_MORE = 5000
# With a tag filter the counts start from the tags' conversations (one primary-key probe each) when the tags are on
# at most this many rows; past it, counting each status's queue up to COUNT_LIMIT is cheaper (status_counts). Measured
# on the benchmark data: about even at 10,000 tagged conversations.
TAG_COUNT_DIRECT = 8 * COUNT_LIMIT


class _SearchExists(Exists):
    """The search's EXISTS, marked so page() can find it in the WHERE clause and take it out again."""


def is_number(value: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() and the database refuse."""
    return value.isascii() and value.isdigit()


class FilterError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _ints(values: list[str], name: str, errors: dict) -> list[int]:
    out = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            if not is_number(part):
                errors[name] = "Must be whole numbers."
                return []
            if int(part) > MAX_ID:
                errors[name] = "No such id."
                return []
            out.append(int(part))
    return out


@dataclass
class ConversationFilter:
    channel: list[int] = field(default_factory=list)
    platform: list[str] = field(default_factory=list)
    department: list[int] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    assignee: str = ""  # "", "me", "unassigned" or a user id
    tag: list[int] = field(default_factory=list)
    priority: list[int] = field(default_factory=list)
    flagged: bool | None = None
    overdue: bool | None = None
    q: str = ""
    sort: str = "oldest"
    cursor: str = ""
    page_size: int = PAGE_SIZE

    @classmethod
    def from_params(cls, params, *, default_status: tuple[str, ...] = ()) -> ConversationFilter:
        """From request.GET / query_params (a QueryDict) or a plain dict; raises FilterError."""

        def getlist(name: str) -> list[str]:
            if hasattr(params, "getlist"):
                return [v for v in params.getlist(name) if v != ""]
            value = params.get(name)
            if value in (None, ""):
                return []
            return list(value) if isinstance(value, list | tuple) else [value]

        def get(name: str) -> str:
            values = getlist(name)
            return str(values[-1]).strip() if values else ""

        errors: dict[str, str] = {}
        f = cls()
        f.channel = _ints(getlist("channel"), "channel", errors)
        f.department = _ints(getlist("department"), "department", errors)
        f.tag = _ints(getlist("tag"), "tag", errors)
        from channels_app.models import Platform

        f.platform = [p for v in getlist("platform") for p in str(v).split(",") if p]
        if any(p not in Platform.values for p in f.platform):
            errors["platform"] = f"Choose from: {', '.join(Platform.values)}."
        statuses = [s for v in getlist("status") for s in str(v).split(",") if s]
        if statuses == ["all"]:
            statuses = []
        elif not statuses:
            statuses = list(default_status)
        if any(s not in ConversationStatus.values for s in statuses):
            errors["status"] = f"Choose from: {', '.join(ConversationStatus.values)} or all."
        f.status = statuses
        priorities = [p for v in getlist("priority") for p in str(v).split(",") if p]
        by_name = {label.lower(): value for value, label in Priority.choices}
        try:
            f.priority = [int(p) if is_number(p) else by_name[p.lower()] for p in priorities]
            if any(p not in Priority.values for p in f.priority):
                raise KeyError
        except KeyError:
            errors["priority"] = "Choose from: low, normal, high, urgent."
        f.assignee = get("assignee")
        if f.assignee and f.assignee not in ("me", "unassigned") and not is_number(f.assignee):
            errors["assignee"] = "Use me, unassigned or a member's id."
        elif is_number(f.assignee) and int(f.assignee) > MAX_ID:
            errors["assignee"] = "No such member."
        for name in ("flagged", "overdue"):
            value = get(name).lower()
            if value in ("1", "true", "yes", "on"):
                setattr(f, name, True)
            elif value in ("0", "false", "no", "off"):
                setattr(f, name, False)
            elif value:
                errors[name] = "Use true or false."
        f.q = " ".join(get("q").split())
        if f.q and not SEARCH_MIN <= len(f.q) <= SEARCH_MAX:
            errors["q"] = f"Search for {SEARCH_MIN} to {SEARCH_MAX} characters."
        f.sort = get("sort") or "oldest"
        if f.sort not in SORTS:
            errors["sort"] = "Choose oldest or newest."
        f.cursor = get("cursor")
        size = get("page_size")
        if size:
            if not is_number(size) or not 1 <= int(size) <= MAX_PAGE_SIZE:
                errors["page_size"] = f"Must be between 1 and {MAX_PAGE_SIZE}."
            else:
                f.page_size = int(size)
        if errors:
            raise FilterError(errors)
        return f

    # ------------------------------------------------------------------------------------- apply
    def apply(self, qs: QuerySet, membership) -> QuerySet:
        if self.channel:
            qs = qs.filter(channel_id__in=self.channel)
        if self.platform:
            qs = qs.filter(platform__in=self.platform)
        if self.department:
            qs = qs.filter(department_id__in=self.department)
        if self.status:
            qs = qs.filter(status__in=self.status)
        if self.assignee == "me":
            qs = qs.filter(assignee_id=membership.user_id)
        elif self.assignee == "unassigned":
            qs = qs.filter(assignee__isnull=True)
        elif self.assignee:
            qs = qs.filter(assignee_id=int(self.assignee))
        if self.tag:
            # EXISTS, not a join: a conversation with two of the tags is still one row (and counts once).
            tagged = Conversation.tags.through.objects.filter(conversation_id=OuterRef("pk"), tag_id__in=self.tag)
            qs = qs.filter(Exists(tagged))
        if self.priority:
            qs = qs.filter(priority__in=self.priority)
        if self.flagged is not None:
            qs = qs.filter(flagged=self.flagged)
        if self.overdue is not None:
            now = timezone.now()
            late = Q(first_response_due_at__lt=now, first_responded_at__isnull=True) | Q(resolution_due_at__lt=now)
            late &= ~Q(status=ConversationStatus.CLOSED)
            qs = qs.filter(late) if self.overdue else qs.exclude(late)
        if self.q:
            # icontains is UPPER(col) LIKE UPPER('%q%') on PostgreSQL: the trigram indexes on UPPER(col)
            # (migration 0004) serve it.
            in_messages = Message.objects.filter(conversation=OuterRef("pk"), text__icontains=self.q)
            contacts = Contact.objects.filter(
                Q(name__icontains=self.q) | Q(handle__icontains=self.q), pk=OuterRef("contact_id")
            )
            qs = qs.filter(_SearchExists(in_messages) | _SearchExists(contacts))
        return qs

    # -------------------------------------------------------------------------------------- page
    def page(self, qs: QuerySet, *, columns: tuple[str, ...] = ()) -> tuple[list, str | None]:
        """One page of `qs` (already filtered) in this sort, and the cursor of the next page.

        With `columns` the rows are values() dicts of those columns, read only when the page's rows are: the
        walks and id subqueries stay on the conversation table alone (values() of related columns would join
        their tables into every one of them)."""
        qs = qs.order_by(*SORTS[self.sort])
        if self.cursor:
            qs = qs.filter(self._after(self.cursor))

        def read(rows: QuerySet) -> list:
            return list(rows.values(*columns) if columns else rows)

        rows = self._search_page(qs, read) if self.q else None
        if rows is None and self.tag:
            # The tag is checked per conversation of the queue (its own index): pick the page's ids from the queue
            # index alone, then read those rows whole, instead of reading every walked conversation's row.
            rows = read(qs.filter(pk__in=qs.values("pk")[: self.page_size + 1]))
        if rows is None:
            rows = read(qs[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        return rows, (self._encode(rows[-1]) if more and rows else None)

    def _search_page(self, qs: QuerySet, read) -> list | None:
        """A search's page from the first SEARCH_WALK conversations in the list's order, or None.

        Read through the trigram indexes, a common word means every matching message of the organisation
        (tens of thousands in the largest) is fetched and hashed before the first row comes out. Walking the
        list's own index instead and checking each conversation's messages by its (conversation, time) index
        stops after a page of matches: a few hundred conversations for a common word. A word that found some
        matches but less than a page walks on (up to SEARCH_WALK_MORE conversations, inside the query that reads
        the page's rows) when the first walk's rate says that is enough for the page: a contact name shared by a
        few percent of conversations. A rare word finds fewer; then the caller runs the plain query, which the
        trigram indexes serve well because there are few matches. PostgreSQL only (elsewhere: None, the plain
        query).
        """
        if connections[qs.db].vendor != "postgresql":
            return None
        plain = qs.all()
        plain.query.where.children = [c for c in plain.query.where.children if not _is_search(c)]
        wanted = self.page_size + 1
        try:
            sql, params = self._walk_sql(plain, 0, SEARCH_WALK, wanted)
        except EmptyResultSet:
            return []
        with connections[plain.db].cursor() as cursor:
            cursor.execute(sql, params)
            ids = [pk for (pk,) in cursor.fetchall()]
        if len(ids) == wanted:
            return read(plain.filter(pk__in=ids))
        if ids and SEARCH_WALK * wanted // len(ids) <= SEARCH_WALK_MORE:
            # The rest of the page from the next conversations, walked inside the query that reads the rows.
            more_sql, more_params = self._walk_sql(plain, SEARCH_WALK, SEARCH_WALK_MORE, wanted - len(ids))
            # "id = ANY(ARRAY(walk) || ids)": the walk runs once (an InitPlan) and the page's rows are read by primary
            # key. As "id IN (ids) OR id IN (walk)" PostgreSQL walked the queue index again over every conversation
            # the walk had passed, testing each against both (1,078 rows read and dropped for "marple").
            table = Conversation._meta.db_table
            found = RawSQL(
                f'"{table}"."id" = ANY(ARRAY({more_sql}) || %s::bigint[])', (*more_params, ids),
                output_field=BooleanField(),
            )
            rows = read(plain.filter(found)[:wanted])
            if len(rows) == wanted:
                return rows
        return None

    def _walk_sql(self, plain: QuerySet, start: int, stop: int, limit: int) -> tuple[str, list]:
        """SQL for the ids of the first `limit` matches among conversations start..stop of the list's order."""
        walk = plain.values("pk", "contact_id", *(f.lstrip("-") for f in SORTS[self.sort]))[start:stop]
        walk_sql, walk_params = walk.query.get_compiler(using=plain.db).as_sql()
        order = ", ".join(f"w.{f.lstrip('-')} {'DESC' if f.startswith('-') else 'ASC'}" for f in SORTS[self.sort])
        pattern = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        # LATERAL ... LIMIT 1, not EXISTS: PostgreSQL may turn an EXISTS into a hash of every matching message
        # (what this avoids); a lateral subquery always runs per conversation, in the walk's order. The contact's
        # EXISTS has OFFSET 0 for the same reason: a common name would otherwise hash every matching contact of
        # every organisation first (6,321 for "marple" in the benchmark) where the walk probes ~1,000 by key.
        sql = (
            f"SELECT w.id FROM ({walk_sql}) w LEFT JOIN LATERAL (SELECT true AS hit FROM inbox_message m"
            " WHERE m.conversation_id = w.id AND UPPER(m.text::text) LIKE UPPER(%s) LIMIT 1) found ON true"
            " WHERE found.hit OR EXISTS (SELECT 1 FROM inbox_contact c WHERE c.id = w.contact_id"
            " AND (UPPER(c.name::text) LIKE UPPER(%s) OR UPPER(c.handle::text) LIKE UPPER(%s)) OFFSET 0)"
            f" ORDER BY {order} LIMIT %s"
        )
        return sql, [*walk_params, pattern, pattern, pattern, limit]

    # ------------------------------------------------------------------------------------ counts
    def counts(self, base: QuerySet, membership) -> dict[str, int]:
        """The status tabs' counts: conversations of `base` per status under the other filters (status_counts).

        A tag filter is a per-conversation check the queue index cannot answer, so a status's count would read
        the status's whole queue to find the tag's conversations spread through it. When the tags are on few
        conversations (TAG_COUNT_DIRECT) the count starts from them instead; past that it counts as any filter.
        """
        every_status = dataclasses.replace(self, status=[])
        if self.tag:
            counted = _tag_status_counts(dataclasses.replace(every_status, tag=[]).apply(base, membership), self.tag)
            if counted is not None:
                return counted
        return status_counts(every_status.apply(base, membership))

    def _encode(self, row) -> str:
        """The cursor after `row`: a Conversation, or a values() row (the API list reads plain values)."""
        value = row.__getitem__ if isinstance(row, dict) else row.__getattribute__
        if self.sort == "oldest":
            key = [self.sort, int(value("flagged")), value("queue_at").isoformat(), value("id")]
        else:
            key = [self.sort, value("last_message_at").isoformat(), value("id")]
        return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")

    def _after(self, cursor: str) -> Q:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            key = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if key[0] != self.sort:
                raise ValueError("cursor of another sort")
            # Each condition leads with a bound on the index's own columns, so the scan starts at the
            # cursor instead of reading and discarding every row before it.
            if self.sort == "oldest":
                flagged, at, pk = bool(key[1]), datetime.fromisoformat(key[2]), int(key[3])
                if not 0 < pk <= MAX_ID or at.tzinfo is None:
                    raise ValueError("out of range")
                if not flagged:
                    # The unflagged rows (most of the list) are last: stay in them, from the cursor on.
                    return Q(flagged=False, queue_at__gte=at) & (Q(queue_at__gt=at) | Q(id__gt=pk))
                return Q(flagged=False) | Q(flagged=True, queue_at__gt=at) | Q(flagged=True, queue_at=at, id__gt=pk)
            at, pk = datetime.fromisoformat(key[1]), int(key[2])
            if not 0 < pk <= MAX_ID or at.tzinfo is None:
                raise ValueError("out of range")
            return Q(last_message_at__lte=at) & (Q(last_message_at__lt=at) | Q(id__lt=pk))
        except (ValueError, TypeError, IndexError, KeyError, binascii.Error, json.JSONDecodeError):
            raise FilterError({"cursor": "Not a cursor this list gave out."}) from None


def _is_search(node) -> bool:
    if isinstance(node, _SearchExists) or isinstance(getattr(node, "lhs", None), _SearchExists):
        return True  # (a filter on an expression is an Exact(expression, True) lookup)
    return isinstance(node, WhereNode) and any(_is_search(child) for child in node.children)


def status_counts(qs: QuerySet, limit: int | None = None) -> dict[str, int]:
    """Conversations per status for the tabs, in one query, each counted up to `limit` + 1.

    A value above `limit` means "more than limit" (show it with `count_label`): one LIMITed subquery per
    status, so the cost is bounded by the limit and not by the size of the organisation.
    """
    limit = COUNT_LIMIT if limit is None else limit
    parts, params = [], []
    statuses = list(ConversationStatus.values)
    for number, value in enumerate(statuses):
        capped = qs.filter(status=value).order_by().values("pk")[: limit + 1]
        try:
            sql, sub_params = capped.query.get_compiler(using=capped.db).as_sql()
        except EmptyResultSet:  # qs.none(): nothing to count
            return dict.fromkeys(statuses, 0)
        parts.append(f"SELECT {number} AS status, COUNT(*) AS n FROM ({sql}) counted_{number}")
        params.extend(sub_params)
    with connections[qs.db].cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return {statuses[number]: n for number, n in cursor.fetchall()}


def _tag_status_counts(qs: QuerySet, tag_ids: list[int], limit: int | None = None) -> dict[str, int] | None:
    """status_counts for `qs` narrowed to the conversations carrying any of `tag_ids`, in one query.

    When the tags are on at most TAG_COUNT_DIRECT conversations, counted from the tags' side: the tagged
    conversations read through `qs` by primary key. Otherwise as status_counts does, each status's
    queue up to the limit (the other branch is never run: PostgreSQL evaluates an uncorrelated subquery inside
    CASE only when that branch is taken). Each count is capped at limit + 1, like status_counts.
    PostgreSQL only (elsewhere: None, and the caller uses status_counts).
    """
    if connections[qs.db].vendor != "postgresql":
        return None
    limit = COUNT_LIMIT if limit is None else limit
    statuses = list(ConversationStatus.values)
    through = Conversation.tags.through._meta.db_table
    tagged = Conversation.tags.through.objects.filter(conversation_id=OuterRef("pk"), tag_id__in=tag_ids)
    # "id = ANY(ARRAY(...))": one primary-key index scan over the tagged conversations in id order (duplicates
    # dropped, so a conversation with two of the tags counts once), never a hash join over the organisation.
    among_tagged = RawSQL(
        f'"{Conversation._meta.db_table}"."id" = ANY(ARRAY(SELECT conversation_id FROM tagged_rows))', (),
        output_field=BooleanField(),
    )
    per_status = qs.filter(among_tagged).order_by().values("status")
    try:
        sql, params = per_status.query.get_compiler(using=qs.db).as_sql()
        queue_parts, queue_params = [], []
        for value in statuses:
            capped = qs.filter(Exists(tagged), status=value).order_by().values("pk")[: limit + 1]
            capped_sql, capped_params = capped.query.get_compiler(using=qs.db).as_sql()
            queue_parts.append(
                f" UNION ALL SELECT 'queue', %s, CASE WHEN (SELECT COUNT(*) FROM tagged_rows) > %s"
                f" THEN (SELECT COUNT(*) FROM ({capped_sql}) counted) END"
            )
            queue_params.extend([value, TAG_COUNT_DIRECT, *capped_params])
    except EmptyResultSet:  # qs.none(): nothing to count
        return dict.fromkeys(statuses, 0)
    query = (
        f"WITH tagged_rows AS MATERIALIZED (SELECT conversation_id FROM {through} WHERE tag_id = ANY(%s) LIMIT %s)"
        f" SELECT 'tags', found.status, COUNT(*) FROM ({sql}) found WHERE (SELECT COUNT(*) FROM tagged_rows) <= %s"
        " GROUP BY found.status"
        + "".join(queue_parts)
    )
    found = {"tags": {}, "queue": {}}
    with connections[qs.db].cursor() as cursor:
        cursor.execute(query, [list(tag_ids), TAG_COUNT_DIRECT + 1, *params, TAG_COUNT_DIRECT, *queue_params])
        for kind, status, n in cursor.fetchall():
            if n is not None:
                found[kind][status] = n
    by_queue = bool(found["queue"])
    return {status: min(found["queue" if by_queue else "tags"].get(status, 0), limit + 1) for status in statuses}


def count_label(n: int, limit: int | None = None, *, more: bool = False) -> str:
    """How a tab shows a count from status_counts: "1,000+" over the limit, else "1,234" (with "+" when `more`:
    a sum with a capped part)."""
    limit = COUNT_LIMIT if limit is None else limit
    if n > limit:
        return f"{limit:,}+"
    return f"{n:,}+" if more else f"{n:,}"
