"""Writes for the inbox settings pages: policies, bank holidays, risk keywords, saved replies, out-of-hours
replies and the quarantine list. Each write checks the actor's role and department, saves, and records its
audit event in the same transaction.

Who may do what:
- department policy (targets, office hours, reply approval), saved replies of a department, the out-of-hours
  reply and the poll interval of a channel: MANAGE_INBOX, for the actor's own departments (admins: all);
- organisation-wide saved replies and bank holidays: MANAGE_INBOX and organisation-wide (admins), since they
  change every department's inbox;
- risk keywords (organisation-wide): MANAGE_INBOX;
- the quarantine list: MANAGE_ORGANISATION.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from dateutil.easter import easter
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Department, Membership, User
from accounts.roles import Capability
from audit.models import EventType
from audit.services import diff, record
from channels_app.models import Channel
from channels_app.text import validate_text
from inbox.models import BankHoliday, InboxPolicy, OutOfHoursReply, QuarantinedItem, RiskKeyword, SavedReply
from inbox.sla import validate_office_hours

PLACEHOLDERS = {
    "contact_name": "the person's name (or handle when they have no name)",
    "contact_handle": "the person's handle, such as @resident",
    "agent_name": "your name",
    "channel_name": "the channel's name",
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
INSTAGRAM_NEEDS_IMAGE = "Instagram posts need an image."


# ------------------------------------------------------------------------------------------- access
def _require(actor: Membership | None, capability: Capability) -> None:
    if actor is None or not actor.can(capability):
        raise PermissionDenied("Your role does not allow this.")


def _same_organisation(actor: Membership, obj) -> None:
    if obj.organisation_id != actor.organisation_id:
        raise PermissionDenied("That belongs to another organisation.")


def can_manage_department(actor: Membership, department_id: int | None) -> bool:
    """MANAGE_INBOX for this department; department None means organisation-wide (admins only)."""
    if actor is None or not actor.can(Capability.MANAGE_INBOX):
        return False
    if actor.sees_all_departments:
        return True
    return department_id is not None and department_id in actor.department_ids


def _require_department(actor: Membership, department_id: int | None) -> None:
    _require(actor, Capability.MANAGE_INBOX)
    if not can_manage_department(actor, department_id):
        if department_id is None:
            raise PermissionDenied("Only admins change organisation-wide inbox settings.")
        raise PermissionDenied("You can change inbox settings only for your own departments.")


# ----------------------------------------------------------------------------------------- policies
def policy_for(department: Department) -> InboxPolicy:
    """The department's policy row, or an unsaved one holding the defaults."""
    policy = InboxPolicy.objects.filter(department=department).first()
    return policy or InboxPolicy(organisation_id=department.organisation_id, department=department)


def approval_candidates(department: Department):
    """People who may be chosen for reply approval: active members of this department."""
    return (
        User.objects.filter(
            memberships__organisation_id=department.organisation_id,
            memberships__is_active=True,
            memberships__departments=department,
        )
        .distinct()
        .order_by("full_name", "email")
    )


def policy_update(
    *,
    actor: Membership,
    department: Department,
    first_response_minutes: int,
    resolution_minutes: int,
    office_hours: dict,
    reply_approval_user_ids: list[int],
) -> InboxPolicy:
    _same_organisation(actor, department)
    _require_department(actor, department.pk)
    errors = {}
    if not isinstance(first_response_minutes, int) or first_response_minutes < 1:
        errors["first_response"] = "Enter a first-response target of at least 1 minute."
    if not isinstance(resolution_minutes, int) or resolution_minutes < 1:
        errors["resolution"] = "Enter a resolution target of at least 1 minute."
    try:
        validate_office_hours(office_hours)
    except ValidationError as exc:
        errors["office_hours"] = exc.messages[0]
    allowed = set(approval_candidates(department).values_list("pk", flat=True))
    chosen = set(reply_approval_user_ids)
    if chosen - allowed:
        errors["reply_approval_for"] = "Choose people who are members of this department."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        policy = InboxPolicy.objects.select_for_update().filter(department=department).first()
        created = policy is None
        if created:
            policy = InboxPolicy(organisation_id=department.organisation_id, department=department)
            before = {}
            before_users: set[int] = set()
        else:
            before = {
                "first_response_minutes": policy.first_response_minutes,
                "resolution_minutes": policy.resolution_minutes,
                "office_hours": policy.office_hours,
            }
            before_users = set(policy.reply_approval_for.values_list("pk", flat=True))
        policy.first_response_minutes = first_response_minutes
        policy.resolution_minutes = resolution_minutes
        policy.office_hours = office_hours
        policy.save()
        policy.reply_approval_for.set(sorted(chosen))
        changes = diff(
            before,
            {
                "first_response_minutes": first_response_minutes,
                "resolution_minutes": resolution_minutes,
                "office_hours": office_hours,
            },
        )
        if before_users != chosen:
            changes["reply_approval_for"] = {"from": sorted(before_users), "to": sorted(chosen)}
        if changes or created:
            record(
                organisation=actor.organisation_id,
                department=department,
                event_type=EventType.INBOX_SETTINGS_CHANGED,
                actor=actor.user,
                target=policy,
                changes=changes,
            )
    return policy


# ------------------------------------------------------------------------------------ bank holidays
def _require_bank_holidays(actor: Membership) -> None:
    # Bank holidays close every department: organisation-wide members (admins) only.
    _require(actor, Capability.MANAGE_INBOX)
    if not actor.sees_all_departments:
        raise PermissionDenied("Only admins change the organisation's bank holidays.")


def bank_holiday_add(*, actor: Membership, day: date, name: str) -> BankHoliday:
    _require_bank_holidays(actor)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Enter the holiday's name."})
    try:
        with transaction.atomic():
            holiday = BankHoliday.objects.create(organisation_id=actor.organisation_id, date=day, name=name[:120])
            record(
                organisation=actor.organisation_id,
                event_type=EventType.INBOX_SETTINGS_CHANGED,
                actor=actor.user,
                target=holiday,
                changes={"bank_holiday": {"from": None, "to": f"{day.isoformat()} {name}"}},
            )
    except IntegrityError:
        raise ValidationError({"date": f"{day:%-d %B %Y} is already a bank holiday."}) from None
    return holiday


def bank_holiday_remove(*, actor: Membership, holiday: BankHoliday) -> None:
    _require_bank_holidays(actor)
    _same_organisation(actor, holiday)
    with transaction.atomic():
        record(
            organisation=actor.organisation_id,
            event_type=EventType.INBOX_SETTINGS_CHANGED,
            actor=actor.user,
            target=holiday,
            changes={"bank_holiday": {"from": f"{holiday.date.isoformat()} {holiday.name}", "to": None}},
        )
        BankHoliday.objects.filter(pk=holiday.pk).delete()


def _substitute(day: date, taken: set[date]) -> date:
    # A holiday on a weekend (or on a day another holiday took) moves to the next free weekday.
    while day.weekday() >= 5 or day in taken:
        day += timedelta(days=1)
    return day


def england_and_wales_bank_holidays(year: int) -> list[tuple[date, str]]:
    """The regular England and Wales bank holidays of a year (one-off holidays, such as a coronation, are added
    by hand; a moved early-May holiday, as in 2020, too)."""

    def first_monday(month: int) -> date:
        day = date(year, month, 1)
        return day + timedelta(days=(7 - day.weekday()) % 7)

    def last_monday(month: int) -> date:
        day = date(year, month + 1, 1) - timedelta(days=1)
        return day - timedelta(days=day.weekday())

    easter_sunday = easter(year)
    holidays = [
        (_substitute(date(year, 1, 1), set()), "New Year’s Day"),
        (easter_sunday - timedelta(days=2), "Good Friday"),
        (easter_sunday + timedelta(days=1), "Easter Monday"),
        (first_monday(5), "Early May bank holiday"),
        (last_monday(5), "Spring bank holiday"),
        (last_monday(8), "Summer bank holiday"),
    ]
    christmas = _substitute(date(year, 12, 25), set())
    boxing = _substitute(date(year, 12, 26), {christmas})
    holidays += [(christmas, "Christmas Day"), (boxing, "Boxing Day")]
    return holidays


def bank_holidays_add_england_and_wales(*, actor: Membership, year: int) -> int:
    """Adds the year's England and Wales bank holidays that are not there yet; returns how many were added."""
    _require_bank_holidays(actor)
    if not 2000 <= year <= 2100:
        raise ValidationError({"year": "Enter a year between 2000 and 2100."})
    wanted = england_and_wales_bank_holidays(year)
    with transaction.atomic():
        existing = set(
            BankHoliday.objects.for_organisation(actor.organisation_id)
            .filter(date__year=year)
            .values_list("date", flat=True)
        )
        new = [
            BankHoliday(organisation_id=actor.organisation_id, date=day, name=name)
            for day, name in wanted
            if day not in existing
        ]
        BankHoliday.objects.bulk_create(new, ignore_conflicts=True)
        if new:
            record(
                organisation=actor.organisation_id,
                event_type=EventType.INBOX_SETTINGS_CHANGED,
                actor=actor.user,
                target_repr=f"England and Wales bank holidays {year}",
                changes={"bank_holidays_added": [f"{h.date.isoformat()} {h.name}" for h in new]},
            )
    return len(new)


# ------------------------------------------------------------------------------------- risk keywords
def risk_keyword_add(*, actor: Membership, phrase: str) -> RiskKeyword:
    _require(actor, Capability.MANAGE_INBOX)
    phrase = " ".join((phrase or "").split())
    if not phrase:
        raise ValidationError({"phrase": "Enter a word or phrase."})
    if len(phrase) > 100:
        raise ValidationError({"phrase": "Keep it to 100 characters or fewer."})
    try:
        with transaction.atomic():
            keyword = RiskKeyword.objects.create(organisation_id=actor.organisation_id, phrase=phrase)
            record(
                organisation=actor.organisation_id,
                event_type=EventType.INBOX_SETTINGS_CHANGED,
                actor=actor.user,
                target=keyword,
                changes={"risk_keyword": {"from": None, "to": phrase}},
            )
    except IntegrityError:
        raise ValidationError({"phrase": f"“{phrase}” is already on the list."}) from None
    return keyword


def risk_keyword_remove(*, actor: Membership, keyword: RiskKeyword) -> None:
    _require(actor, Capability.MANAGE_INBOX)
    _same_organisation(actor, keyword)
    with transaction.atomic():
        record(
            organisation=actor.organisation_id,
            event_type=EventType.INBOX_SETTINGS_CHANGED,
            actor=actor.user,
            target=keyword,
            changes={"risk_keyword": {"from": keyword.phrase, "to": None}},
        )
        RiskKeyword.objects.filter(pk=keyword.pk).delete()


# ------------------------------------------------------------------------------------- saved replies
def validate_placeholders(body: str) -> None:
    unknown = [name for name in _PLACEHOLDER.findall(body or "") if name not in PLACEHOLDERS]
    if unknown:
        known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
        names = ", ".join(f"{{{name}}}" for name in dict.fromkeys(unknown))
        raise ValidationError(
            f"Unknown placeholder {names}. You can use {known}.", code="unknown_placeholder"
        )


def render_saved_reply(saved_reply: SavedReply, conversation, agent) -> str:
    """The saved reply's body with its placeholders filled in for this conversation and agent.

    `agent` is a Membership or a User. Only the known placeholders are replaced (no str.format: a body is
    text written by people, never a format string); anything else in braces is left as it is.
    """
    user = getattr(agent, "user", agent)
    contact = conversation.contact
    channel = conversation.channel
    values = {
        "contact_name": contact.name or contact.handle or "",
        "contact_handle": contact.handle or "",
        "agent_name": (getattr(user, "full_name", "") or str(user or "")) if user is not None else "",
        "channel_name": channel.display_name or channel.handle or "",
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), saved_reply.body)


def _clean_saved_reply(title: str, body: str) -> tuple[str, str]:
    title = (title or "").strip()
    body = (body or "").strip()
    errors = {}
    if not title:
        errors["title"] = "Enter a title."
    elif len(title) > 120:
        errors["title"] = "Keep the title to 120 characters or fewer."
    if not body:
        errors["body"] = "Enter the reply text."
    elif len(body) > 5000:
        errors["body"] = "Keep the reply to 5,000 characters or fewer."
    else:
        try:
            validate_placeholders(body)
        except ValidationError as exc:
            errors["body"] = exc.messages[0]
    if errors:
        raise ValidationError(errors)
    return title, body


def _department_of(actor: Membership, department: Department | None) -> Department | None:
    if department is not None:
        _same_organisation(actor, department)
    return department


_DUPLICATE_TITLE = "A saved reply with this title already exists for that department."


def saved_reply_create(*, actor: Membership, title: str, body: str, department: Department | None) -> SavedReply:
    department = _department_of(actor, department)
    _require_department(actor, department.pk if department else None)
    title, body = _clean_saved_reply(title, body)
    try:
        with transaction.atomic():
            saved = SavedReply.objects.create(
                organisation_id=actor.organisation_id, department=department, title=title, body=body,
                created_by=actor.user,
            )
            record(
                organisation=actor.organisation_id,
                department=department,
                event_type=EventType.SAVED_REPLY_CHANGED,
                actor=actor.user,
                target=saved,
                changes={"created": {"title": title, "department": department.name if department else None}},
            )
    except IntegrityError:
        raise ValidationError({"title": _DUPLICATE_TITLE}) from None
    return saved


def saved_reply_update(
    *, actor: Membership, saved_reply: SavedReply, title: str, body: str, department: Department | None
) -> SavedReply:
    _same_organisation(actor, saved_reply)
    _require_department(actor, saved_reply.department_id)
    department = _department_of(actor, department)
    _require_department(actor, department.pk if department else None)
    title, body = _clean_saved_reply(title, body)
    before = {"title": saved_reply.title, "body": saved_reply.body, "department": saved_reply.department_id}
    after = {"title": title, "body": body, "department": department.pk if department else None}
    changes = diff(before, after)
    if not changes:
        return saved_reply
    try:
        with transaction.atomic():
            rows = SavedReply.objects.filter(pk=saved_reply.pk).update(title=title, body=body, department=department)
            if rows != 1:
                raise ValidationError("This saved reply was deleted meanwhile.")
            record(
                organisation=actor.organisation_id,
                department=department or saved_reply.department_id,
                event_type=EventType.SAVED_REPLY_CHANGED,
                actor=actor.user,
                target=saved_reply,
                target_repr=title,
                changes=changes,
            )
    except IntegrityError:
        raise ValidationError({"title": _DUPLICATE_TITLE}) from None
    saved_reply.title, saved_reply.body, saved_reply.department = title, body, department
    return saved_reply


def saved_reply_delete(*, actor: Membership, saved_reply: SavedReply) -> None:
    _same_organisation(actor, saved_reply)
    _require_department(actor, saved_reply.department_id)
    with transaction.atomic():
        record(
            organisation=actor.organisation_id,
            department=saved_reply.department_id,
            event_type=EventType.SAVED_REPLY_CHANGED,
            actor=actor.user,
            target=saved_reply,
            changes={"deleted": {"title": saved_reply.title, "body": saved_reply.body}},
        )
        SavedReply.objects.filter(pk=saved_reply.pk).delete()


# ----------------------------------------------------------------------------------- out of hours
def out_of_hours_text_errors(platform: str, text: str) -> list[str]:
    """The platform's text rules for a reply (a reply needs no image, even on Instagram)."""
    if not text.strip():
        return ["Enter the reply text."]
    try:
        check = validate_text(platform, text)
    except ValueError:
        return []
    return [error for error in check.errors if error != INSTAGRAM_NEEDS_IMAGE]


def out_of_hours_for(channel) -> OutOfHoursReply:
    reply = OutOfHoursReply.objects.filter(channel=channel).first()
    return reply or OutOfHoursReply(organisation_id=channel.organisation_id, channel=channel, enabled=False, text="")


def out_of_hours_update(*, actor: Membership, channel, enabled: bool, text: str) -> OutOfHoursReply:
    _same_organisation(actor, channel)
    _require_department(actor, channel.department_id)
    text = (text or "").strip()
    if len(text) > 2000:
        raise ValidationError({"text": "Keep the reply to 2,000 characters or fewer."})
    if enabled or text:
        errors = out_of_hours_text_errors(channel.platform, text)
        if errors:
            raise ValidationError({"text": errors})
    with transaction.atomic():
        reply = OutOfHoursReply.objects.select_for_update().filter(channel=channel).first()
        before = {"enabled": reply.enabled, "text": reply.text} if reply else {}
        if reply is None:
            reply = OutOfHoursReply(organisation_id=channel.organisation_id, channel=channel)
        reply.enabled, reply.text = enabled, text
        reply.save()
        changes = diff(before, {"enabled": enabled, "text": text})
        if changes:
            record(
                organisation=actor.organisation_id,
                department=channel.department_id,
                event_type=EventType.INBOX_SETTINGS_CHANGED,
                actor=actor.user,
                target=reply,
                changes=changes,
            )
    return reply


# ------------------------------------------------------------------------------------ poll interval
POLL_INTERVAL_MIN = 10
POLL_INTERVAL_MAX = 3600
POLL_INTERVAL_ERROR = f"Choose a whole number of seconds from {POLL_INTERVAL_MIN} to {POLL_INTERVAL_MAX}."


def poll_interval_update(*, actor: Membership, channel, seconds: int):
    """Sets how often the channel is polled for new inbound (10 s to an hour).

    Takes effect at the next poll: the poll that is running (if any) schedules the one after it with the interval
    it read, and a shorter interval brings a next poll that was further off forward to now + the new interval.
    """
    _same_organisation(actor, channel)
    _require_department(actor, channel.department_id)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not (
        POLL_INTERVAL_MIN <= seconds <= POLL_INTERVAL_MAX
    ):
        raise ValidationError({"poll_interval_seconds": POLL_INTERVAL_ERROR})
    with transaction.atomic():
        locked = Channel.objects.connected().select_for_update().filter(pk=channel.pk).first()
        if locked is None:
            raise ValidationError("This channel was disconnected meanwhile.")
        before = locked.poll_interval_seconds
        if before == seconds:
            return locked
        soonest = timezone.now() + timedelta(seconds=seconds)
        fields = ["poll_interval_seconds"]
        locked.poll_interval_seconds = seconds
        if locked.next_poll_at is not None and locked.next_poll_at > soonest:
            locked.next_poll_at = soonest
            fields.append("next_poll_at")
        locked.save(update_fields=fields)
        record(
            organisation=actor.organisation_id,
            department=locked.department_id,
            event_type=EventType.INBOX_SETTINGS_CHANGED,
            actor=actor.user,
            target=locked,
            changes={"poll_interval_seconds": {"from": before, "to": seconds}},
        )
    channel.poll_interval_seconds = seconds
    return locked


# ------------------------------------------------------------------------------------- quarantine
def quarantine_resolve(*, actor: Membership, item: QuarantinedItem) -> QuarantinedItem:
    _require(actor, Capability.MANAGE_ORGANISATION)
    _same_organisation(actor, item)
    with transaction.atomic():
        now = timezone.now()
        rows = QuarantinedItem.objects.filter(pk=item.pk, resolved_at__isnull=True).update(resolved_at=now)
        if rows != 1:
            raise ValidationError("This item was already marked resolved.")
        record(
            organisation=actor.organisation_id,
            event_type=EventType.INBOX_SETTINGS_CHANGED,
            actor=actor.user,
            target=item,
            changes={"quarantine": {"from": "unresolved", "to": "resolved"}, "error": item.error[:300]},
        )
    item.resolved_at = now
    return item
