"""The audit trail's filters and keyset paging: one implementation for the page, the API and the export.

`AuditFilter.from_params(params, zone=...)` validates query parameters (bad values become FilterError with
a message per field, never a 500) and `apply(queryset)` narrows an already-scoped queryset
(`AuditEvent.objects.visible_to(membership)`). `page(queryset)` returns one page newest first by
(occurred_at, id) and the opaque cursor of the next; no OFFSET, so page 1,000 costs what page 1 does
(index audit_org_time_idx).

Parameters (repeat a parameter or comma-separate to give several values where noted):
  actor        a member's user id, or "system" (background tasks and other events with no person)
  event_type   one or more EventType values, e.g. post.approved (several allowed)
  target_type  an object kind as the trail stores it, e.g. approvals.post; target_id needs it
  target_id    that object's id
  department   department ids (several allowed), or "none" for organisation-wide events
  from, to     dates (YYYY-MM-DD) in the organisation's time zone, whole days, both inclusive
  cursor       the next page's cursor, as given out; page_size 1 to 200 (default 50)
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q, QuerySet

from audit.models import EventType

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Ids beyond PostgreSQL's bigint would be a database error, not a clear 400.
MAX_ID = 2**63 - 1
# Dates outside these years are typing mistakes (and year 9999 + 1 day overflows datetime).
MIN_YEAR, MAX_YEAR = 2000, 2100
SYSTEM = "system"
NO_DEPARTMENT = "none"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# As AuditEvent.target_type holds it: Model._meta.label_lower.
_TARGET_TYPE = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*", re.ASCII)
_TARGET_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)


def is_number(value: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() and the database refuse."""
    return value.isascii() and value.isdigit()


class FilterError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _zone(zone: ZoneInfo | str | None) -> ZoneInfo:
    if isinstance(zone, ZoneInfo):
        return zone
    try:
        return ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass
class AuditFilter:
    actor: str = ""  # "", "system" or a user id
    event_type: list[str] = field(default_factory=list)
    target_type: str = ""
    target_id: str = ""
    department: list[int] = field(default_factory=list)
    no_department: bool = False  # department=none: organisation-wide events
    date_from: date | None = None
    date_to: date | None = None
    cursor: str = ""
    page_size: int = PAGE_SIZE
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    @classmethod
    def from_params(cls, params, *, zone: ZoneInfo | str | None = None) -> AuditFilter:
        """From request.GET / query_params (a QueryDict) or a plain dict; raises FilterError.

        `zone` is the organisation's time zone (a ZoneInfo or its name): the dates are whole days there.
        """

        def getlist(name: str) -> list[str]:
            if hasattr(params, "getlist"):
                values = params.getlist(name)
            else:
                value = params.get(name)
                values = [] if value is None else list(value) if isinstance(value, list | tuple) else [value]
            return [str(v).strip() for v in values if str(v).strip() != ""]

        def get(name: str) -> str:
            values = getlist(name)
            return values[-1] if values else ""

        def parts(name: str) -> list[str]:
            return [p.strip() for v in getlist(name) for p in v.split(",") if p.strip()]

        errors: dict[str, str] = {}
        f = cls(zone=_zone(zone))

        f.actor = get("actor")
        if f.actor and f.actor != SYSTEM:
            if not is_number(f.actor):
                errors["actor"] = 'Use a member\'s id or "system".'
            elif not 0 < int(f.actor) <= MAX_ID:
                errors["actor"] = "No such member."

        f.event_type = list(dict.fromkeys(parts("event_type")))
        unknown = [t for t in f.event_type if t not in EventType.values]
        if unknown:
            errors["event_type"] = f"Unknown event type: {', '.join(unknown[:3])[:200]}."

        f.target_type = get("target_type")
        f.target_id = get("target_id")
        if f.target_type and (len(f.target_type) > 60 or not _TARGET_TYPE.fullmatch(f.target_type)):
            errors["target_type"] = "Use an object kind such as approvals.post."
        if f.target_id:
            if not _TARGET_ID.fullmatch(f.target_id):
                errors["target_id"] = "Use the object's id (letters, digits, up to 64 characters)."
            elif not f.target_type and "target_type" not in errors:
                errors["target_id"] = "Choose the kind of object too."

        for value in parts("department"):
            if value == NO_DEPARTMENT:
                f.no_department = True
            elif not is_number(value):
                errors["department"] = 'Use department ids or "none".'
                break
            elif not 0 < int(value) <= MAX_ID:
                errors["department"] = "No such department."
                break
            else:
                f.department.append(int(value))

        f.date_from = _date(get("from"), "from", errors)
        f.date_to = _date(get("to"), "to", errors)
        if f.date_from and f.date_to and f.date_from > f.date_to:
            errors["to"] = "Must be on or after the from date."

        f.cursor = get("cursor")
        if f.cursor:
            try:
                f._after()
            except FilterError as exc:
                errors.update(exc.errors)
        size = get("page_size")
        if size:
            if not is_number(size) or len(size) > 4 or not 1 <= int(size) <= MAX_PAGE_SIZE:
                errors["page_size"] = f"Must be between 1 and {MAX_PAGE_SIZE}."
            else:
                f.page_size = int(size)
        if errors:
            raise FilterError(errors)
        return f

    # ------------------------------------------------------------------------------------- apply
    def apply(self, qs: QuerySet) -> QuerySet:
        """`qs` narrowed to the filters (not the cursor), newest first."""
        if self.actor == SYSTEM:
            # Background work: no person, labelled "system: <task>" (audit.context.system_actor).
            qs = qs.filter(actor__isnull=True, actor_label__startswith=SYSTEM)
        elif self.actor:
            qs = qs.filter(actor_id=int(self.actor))
        if self.event_type:
            qs = qs.filter(event_type__in=self.event_type)
        if self.target_type:
            qs = qs.filter(target_type=self.target_type)
        if self.target_id:
            qs = qs.filter(target_id=self.target_id)
        if self.department or self.no_department:
            where = Q(department_id__in=self.department) if self.department else Q(pk__in=[])
            if self.no_department:
                where |= Q(department__isnull=True)
            qs = qs.filter(where)
        start, end = self.bounds()
        if start is not None:
            qs = qs.filter(occurred_at__gte=start)
        if end is not None:
            qs = qs.filter(occurred_at__lt=end)
        return qs.order_by("-occurred_at", "-id")

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """The date range as aware datetimes: [start of `from`, start of the day after `to`) in the zone."""
        start = datetime.combine(self.date_from, time.min, tzinfo=self.zone) if self.date_from else None
        # The year bound keeps to + 1 day inside datetime's range.
        end = datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=self.zone) if self.date_to else None
        return start, end

    # -------------------------------------------------------------------------------------- page
    def page(self, qs: QuerySet) -> tuple[list, str | None]:
        """One page of `qs` (already filtered) newest first, and the cursor of the next page (None on the last)."""
        qs = qs.order_by("-occurred_at", "-id")
        if self.cursor:
            qs = qs.filter(self._after())
        rows = list(qs[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        return rows, (encode_cursor(rows[-1].occurred_at, rows[-1].pk) if more and rows else None)

    def _after(self) -> Q:
        try:
            if len(self.cursor) > 200:
                raise ValueError("too long")
            padded = self.cursor + "=" * (-len(self.cursor) % 4)
            at_text, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
            at = datetime.fromisoformat(at_text)
            if not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk <= MAX_ID or at.tzinfo is None:
                raise ValueError("out of range")
        except (ValueError, TypeError, binascii.Error, UnicodeError, OverflowError):
            raise FilterError({"cursor": "Not a cursor this list gave out."}) from None
        # Leads with a bound on the index's own column, so the scan starts at the cursor.
        return Q(occurred_at__lte=at) & (Q(occurred_at__lt=at) | Q(id__lt=pk))

    # ------------------------------------------------------------------------------- describing
    def used(self) -> dict:
        """The filters given, as plain values: what an AUDIT_VIEWED / AUDIT_EXPORTED event records."""
        out: dict = {}
        if self.actor:
            out["actor"] = self.actor
        if self.event_type:
            out["event_type"] = list(self.event_type)
        if self.target_type:
            out["target_type"] = self.target_type
        if self.target_id:
            out["target_id"] = self.target_id
        if self.department or self.no_department:
            out["department"] = [*self.department, *([NO_DEPARTMENT] if self.no_department else [])]
        if self.date_from:
            out["from"] = self.date_from.isoformat()
        if self.date_to:
            out["to"] = self.date_to.isoformat()
        if self.cursor:
            out["cursor"] = self.cursor
        return out


def _date(value: str, name: str, errors: dict) -> date | None:
    if not value:
        return None
    if not _DATE.fullmatch(value):
        errors[name] = "Use a date such as 2025-03-31."
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        errors[name] = "No such date."
        return None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        errors[name] = f"Use a date between {MIN_YEAR} and {MAX_YEAR}."
        return None
    return parsed


def encode_cursor(at: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), pk]).encode()).decode().rstrip("=")
