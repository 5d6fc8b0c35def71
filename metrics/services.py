"""Writes of the metrics app that people make: the offline contact volumes and the costs per contact behind the
channel-shift figures. Each write checks the actor's role and department, saves, and records ONE audit event
with the before and after values in the same transaction.

Who may do what:
- offline volumes: VIEW_DASHBOARDS for one of the actor's departments (admins: every department; managers:
  their own), since they are the people who read the channel-shift dashboard for those departments;
- costs per contact: organisation-wide, so MANAGE_ORGANISATION (admins), like other organisation settings.

The rollups, snapshots and post metrics are derived from platform data and are not audited (docs/kpis.md).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Department, Membership
from accounts.roles import Capability
from audit.models import EventType
from audit.services import record
from metrics.models import DEFAULT_COSTS, OFFLINE_CHANNELS, ContactChannel, ContactCost, OfflineContactVolume
from metrics.rollups import zone_of

# One event per save: the figure's before and after, its department, month and channel (or cost and source).
OFFLINE_VOLUME_EVENT = EventType.METRICS_OFFLINE_VOLUME_SET
CONTACT_COST_EVENT = EventType.METRICS_CONTACT_COST_CHANGED

MAX_VOLUME = 100_000_000  # per department, month and channel: far above any real council's figure
MAX_COST = Decimal("999999.99")  # ContactCost.cost_per_contact: max_digits=8, decimal_places=2
EARLIEST_MONTH = date(2000, 1, 1)
MAX_SOURCE = 300


# ------------------------------------------------------------------------------------------- access
def can_edit_volumes(actor: Membership | None, department_id: int | None = None) -> bool:
    """VIEW_DASHBOARDS, and (when a department is named) that department is one of the actor's."""
    if actor is None or not actor.can(Capability.VIEW_DASHBOARDS):
        return False
    if department_id is None or actor.sees_all_departments:
        return True
    return department_id in actor.department_ids


def can_edit_costs(actor: Membership | None) -> bool:
    return actor is not None and actor.can(Capability.MANAGE_ORGANISATION)


def editable_departments(actor: Membership):
    """The departments whose offline volumes this member may record (live ones)."""
    departments = Department.objects.visible_to(actor).active()
    if not actor.sees_all_departments:
        departments = departments.filter(pk__in=actor.department_ids)
    return departments.order_by("name")


def current_month(organisation_id: int) -> date:
    return timezone.now().astimezone(zone_of(organisation_id)).date().replace(day=1)


# ---------------------------------------------------------------------------------- offline volumes
def offline_volume_set(
    *, actor: Membership, department: Department, month: date, channel: str, volume: int
) -> OfflineContactVolume:
    """Record (or overwrite) a department's offline contacts for one month and channel.

    One audit event with the volume before and after; none when the figure is unchanged.
    """
    if department.organisation_id != actor.organisation_id:
        raise PermissionDenied("That department belongs to another organisation.")
    if not can_edit_volumes(actor, department.pk):
        raise PermissionDenied("You can record contact volumes only for your own departments.")
    errors = {}
    if not isinstance(month, date):
        errors["month"] = "Enter a month as YYYY-MM."
    else:
        month = month.replace(day=1)
        if month > current_month(actor.organisation_id):
            errors["month"] = "Enter this month or an earlier one: volumes are recorded after the fact."
        elif month < EARLIEST_MONTH:
            errors["month"] = f"Enter a month from {EARLIEST_MONTH:%B %Y} on."
    if channel not in {c.value for c in OFFLINE_CHANNELS}:
        errors["channel"] = "Choose phone, e-mail, face to face or web forms."
    if isinstance(volume, bool) or not isinstance(volume, int):
        errors["volume"] = "Enter a whole number of contacts."
    elif volume < 0:
        errors["volume"] = "Enter 0 or more contacts."
    elif volume > MAX_VOLUME:
        errors["volume"] = f"Enter at most {MAX_VOLUME:,} contacts."
    if errors:
        raise ValidationError(errors)
    key = {"organisation_id": actor.organisation_id, "department": department, "month": month, "channel": channel}
    try:
        with transaction.atomic():
            row = OfflineContactVolume.objects.select_for_update().filter(**key).first()
            before = row.volume if row is not None else None
            if row is None:
                row = OfflineContactVolume.objects.create(**key, volume=volume, updated_by=actor.user)
            elif row.volume == volume:
                return row
            else:
                row.volume, row.updated_by, row.updated_at = volume, actor.user, timezone.now()
                row.save(update_fields=["volume", "updated_by", "updated_at"])
            record(
                organisation=actor.organisation_id,
                department=department,
                event_type=OFFLINE_VOLUME_EVENT,
                actor=actor.user,
                target=row,
                target_repr=f"{department.name}: {ContactChannel(channel).label} contacts in {month:%B %Y}",
                changes={"volume": {"from": before, "to": volume}},
            )
    except IntegrityError:
        # Two people saved the first figure for this cell at the same moment; the other one won.
        raise ValidationError({"volume": "Someone else saved this figure at the same moment; check it and "
                                         "save again."}) from None
    return row


# -------------------------------------------------------------------------------------------- costs
def _require_costs(actor: Membership) -> None:
    if not can_edit_costs(actor):
        raise PermissionDenied("Only admins change the costs per contact.")


def _valid_channel(channel: str) -> ContactChannel:
    try:
        return ContactChannel(channel)
    except ValueError:
        raise ValidationError({"channel": "Choose one of the contact channels."}) from None


def contact_cost_set(*, actor: Membership, channel: str, cost, source: str) -> ContactCost:
    """Set the organisation's own cost per contact for a channel; the source of the figure is required."""
    _require_costs(actor)
    errors = {}
    try:
        channel = _valid_channel(channel).value
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    try:
        cost = Decimal(str(cost)).quantize(Decimal("0.01"))
        if not cost.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError):
        errors["cost"] = "Enter an amount such as 2.83."
    else:
        if cost < 0:
            errors["cost"] = "Enter 0 or more."
        elif cost > MAX_COST:
            errors["cost"] = f"Enter at most {MAX_COST}."
    source = (source or "").strip()
    if not source:
        errors["source"] = "Say where the figure comes from (a study, your own costing, a benchmark)."
    elif len(source) > MAX_SOURCE:
        errors["source"] = f"Keep the source to {MAX_SOURCE} characters."
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            row = ContactCost.objects.select_for_update().filter(
                organisation_id=actor.organisation_id, channel=channel).first()
            if row is None:
                default_cost, default_source = DEFAULT_COSTS[channel]
                before = {"cost_per_contact": str(default_cost), "source": default_source, "default": True}
                row = ContactCost.objects.create(organisation_id=actor.organisation_id, channel=channel,
                                                 cost_per_contact=cost, source=source, updated_by=actor.user)
            else:
                before = {"cost_per_contact": str(row.cost_per_contact), "source": row.source, "default": False}
                if row.cost_per_contact == cost and row.source == source:
                    return row
                row.cost_per_contact, row.source = cost, source
                row.updated_by, row.updated_at = actor.user, timezone.now()
                row.save(update_fields=["cost_per_contact", "source", "updated_by", "updated_at"])
            after = {"cost_per_contact": str(cost), "source": source, "default": False}
            record(
                organisation=actor.organisation_id,
                event_type=CONTACT_COST_EVENT,
                actor=actor.user,
                target=row,
                target_repr=f"Cost per contact: {ContactChannel(channel).label}",
                changes={key: {"from": before[key], "to": after[key]} for key in after if before[key] != after[key]},
            )
    except IntegrityError:
        raise ValidationError({"cost": "Someone else changed this cost at the same moment; check it and save "
                                       "again."}) from None
    return row


def contact_cost_reset_to_default(*, actor: Membership, channel: str) -> bool:
    """Remove the organisation's own cost for a channel, so the default (with its source) applies again.

    Returns False (and records nothing) when the channel already uses the default."""
    _require_costs(actor)
    channel = _valid_channel(channel).value
    with transaction.atomic():
        row = ContactCost.objects.select_for_update().filter(
            organisation_id=actor.organisation_id, channel=channel).first()
        if row is None:
            return False
        default_cost, default_source = DEFAULT_COSTS[channel]
        # The delete first: record() holds the organisation's chain head until commit, so it is the last write.
        pk = row.pk
        row.delete()
        row.pk = pk  # the event names the row that went
        record(
            organisation=actor.organisation_id,
            event_type=CONTACT_COST_EVENT,
            actor=actor.user,
            target=row,
            target_repr=f"Cost per contact: {ContactChannel(channel).label}",
            changes={
                "cost_per_contact": {"from": str(row.cost_per_contact), "to": str(default_cost)},
                "source": {"from": row.source, "to": default_source},
                "default": {"from": False, "to": True},
            },
        )
    return True
