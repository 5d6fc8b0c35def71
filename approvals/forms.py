"""The composer's form: one post's content as an editor types it, turned into an approvals.services.Draft.

Choice fields are narrowed to the organisation and the person (departments they write for, channels they may
publish to). Per-platform and per-channel variants and the images' alt text are fields named after what they
belong to (`variant_x`, `variant_channel_12`, `alt_34`), read from the posted data as the page renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone

from accounts.models import Department, Membership
from approvals.models import Post
from approvals.services import TITLE_MAX, Draft
from channels_app.models import Channel, Platform
from channels_app.text import PLATFORMS

BODY_MAX = 63206
NOTES_MAX = 5000
LINK_MAX = 1000
ALT_MAX = 1000
VARIANT_MAX = 63206
SCHEDULE_WHEN_APPROVED = "approved"
SCHEDULE_AT = "at"


def whole_number(raw: object) -> int | None:
    """A positive id typed or posted by anyone: plain ASCII digits only ("²".isdigit() is True), else None."""
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        return None
    return int(text)


def writable_departments(membership: Membership):
    """Live departments this member may write posts for (admins: all; others: their own)."""
    departments = Department.objects.visible_to(membership).active()
    if not membership.sees_all_departments:
        departments = departments.filter(pk__in=membership.department_ids)
    return departments.order_by("name")


# Typed times must fall in this window: well inside what Python's datetime can convert between zones (a year
# 9999 evening in New York is year 10000 in UTC, which nothing can read back), and sane for a post or a pause.
EARLIEST_YEAR = 2000
YEARS_AHEAD = 5
OUT_OF_RANGE = "Choose a date within the next five years."


def _years_after(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def parse_local_datetime(raw: str, zone_name: str | ZoneInfo) -> datetime:
    """A datetime-local value ("2025-07-01T09:30") read as a wall-clock time in the organisation's zone → UTC.

    The one parser for every time typed in the organisation's zone (composer, post page, pauses). Raises
    ValidationError with a message for people: unreadable, a date that does not exist, a year before
    EARLIEST_YEAR or more than YEARS_AHEAD years from now, or a time the clocks skip (spring forward). A time
    they repeat (autumn) is the first of the two.
    """
    text = (raw or "").strip()
    if not text.isascii() or not 16 <= len(text) <= 19 or text[10:11] not in ("T", " "):
        raise ValidationError("Give the date and time as day, month, year, hours and minutes.")
    try:
        naive = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise ValidationError("That date or time does not exist; check the day and the hour.") from None
    if naive.tzinfo is not None:
        raise ValidationError("Give the date and time as day, month, year, hours and minutes.")
    zone = zone_name if isinstance(zone_name, ZoneInfo) else ZoneInfo(zone_name)
    latest = _years_after(timezone.now().astimezone(zone).replace(tzinfo=None), YEARS_AHEAD)
    if naive.year < EARLIEST_YEAR or naive > latest:
        raise ValidationError(OUT_OF_RANGE)
    local = naive.replace(tzinfo=zone, fold=0)
    try:
        as_utc = local.astimezone(UTC)
        round_trip = as_utc.astimezone(zone).replace(tzinfo=None)
    except (ValueError, OverflowError):  # pragma: no cover - the window above keeps clear of the edges
        raise ValidationError(OUT_OF_RANGE) from None
    if round_trip != naive:
        raise ValidationError(f"{naive:%H:%M} does not exist on {naive:%-d %B %Y} in {zone}: the clocks go "
                              "forward then. Choose another time.")
    return as_utc


def local_input_value(value: datetime | None, zone_name: str) -> str:
    """The value for a datetime-local input: the UTC instant shown in the organisation's zone, to the minute."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone_name)).strftime("%Y-%m-%dT%H:%M")


@dataclass
class MediaRow:
    id: int
    alt_text: str
    filename: str = ""
    width: int | None = None
    height: int | None = None


class ComposerForm(forms.Form):
    title = forms.CharField(
        label="Internal title", max_length=TITLE_MAX,
        help_text="Only your colleagues see this; it names the post in lists and the calendar.",
        error_messages={"required": "Give the post an internal title.",
                        "max_length": f"A title can be at most {TITLE_MAX} characters."},
    )
    department = forms.ModelChoiceField(
        queryset=Department.objects.none(), label="Department", empty_label=None,
        error_messages={"invalid_choice": "Choose one of your departments.", "required": "Choose a department."},
    )
    body = forms.CharField(
        label="Text", required=False, strip=False, max_length=BODY_MAX, widget=forms.Textarea,
        error_messages={"max_length": f"The text can be at most {BODY_MAX:,} characters."},
    )
    link = forms.CharField(
        label="Link (optional)", required=False, max_length=LINK_MAX,
        help_text="Added at the end of the text on every channel unless the text already contains it.",
        error_messages={"max_length": f"A link can be at most {LINK_MAX} characters."},
    )
    channels = forms.MultipleChoiceField(
        label="Channels", required=False, widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Choose channels you may publish to."},
    )
    schedule = forms.ChoiceField(
        label="When", choices=[(SCHEDULE_WHEN_APPROVED, "As soon as it is approved"), (SCHEDULE_AT, "At a time")],
        initial=SCHEDULE_WHEN_APPROVED, widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose when the post goes out.", "required": "Choose when the post goes out."},
    )
    scheduled_at = forms.CharField(label="Date and time", required=False, max_length=19)
    notes = forms.CharField(
        label="Internal notes (optional)", required=False, max_length=NOTES_MAX, widget=forms.Textarea,
        help_text="For approvers and colleagues; never published.",
        error_messages={"max_length": f"Notes can be at most {NOTES_MAX:,} characters."},
    )

    def __init__(self, data=None, *, membership: Membership, post: Post | None, channels: list[Channel],
                 zone_name: str, **kwargs):
        super().__init__(data, **kwargs)
        self.membership = membership
        self.post = post
        self.zone_name = zone_name
        self.available_channels = channels
        self.fields["channels"].choices = [(str(c.pk), str(c)) for c in channels]
        if post is None:
            self.fields["department"].queryset = writable_departments(membership)
        else:
            del self.fields["department"]
        self.scheduled_utc: datetime | None = None
        self.variants: dict[str, str] = {}
        self.media_rows: list[MediaRow] = []

    # -- fields the page names after what they belong to
    def clean_link(self) -> str:
        link = self.cleaned_data["link"].strip()
        if link:
            try:
                URLValidator(schemes=["http", "https"])(link)
            except ValidationError:
                raise ValidationError("Give the link as a full web address starting with https://.") from None
        return link

    def clean_channels(self) -> list[int]:
        return [int(value) for value in self.cleaned_data["channels"]]

    def clean(self):
        cleaned = super().clean()
        self._clean_schedule(cleaned)
        self.variants = read_variants(self.data, cleaned.get("channels") or [], self.available_channels)
        for key, text in self.variants.items():
            if len(text) > VARIANT_MAX:
                self.add_error(None, f"The text for {variant_label(key, self.available_channels)} is too long.")
        self.media_rows = read_media(self.data)
        for row in self.media_rows:
            if len(row.alt_text) > ALT_MAX:
                self.add_error(None, f"Alt text can be at most {ALT_MAX} characters.")
        return cleaned

    def _clean_schedule(self, cleaned: dict) -> None:
        if cleaned.get("schedule") != SCHEDULE_AT:
            self.scheduled_utc = None
            return
        raw = (cleaned.get("scheduled_at") or "").strip()
        if not raw:
            self.add_error("scheduled_at", "Give the date and time, or choose “As soon as it is approved”.")
            return
        try:
            when = parse_local_datetime(raw, self.zone_name)
        except ValidationError as error:
            self.add_error("scheduled_at", error)
            return
        current = self.post.scheduled_at if self.post is not None else None
        if current is not None and local_input_value(current, self.zone_name) == raw[:16]:
            # Unchanged in the form (which shows minutes only): keep the stored instant, even if it has passed.
            self.scheduled_utc = current
            return
        if when <= timezone.now():
            self.add_error("scheduled_at", "Choose a time in the future.")
            return
        self.scheduled_utc = when

    def draft(self) -> Draft:
        data = self.cleaned_data
        return Draft(
            title=data.get("title", ""), body=data.get("body", ""), link=data.get("link", ""),
            channel_ids=data.get("channels", []), variants=self.variants,
            media=[{"id": row.id, "alt_text": row.alt_text} for row in self.media_rows], notes=data.get("notes", ""),
        )


def variant_field(key: str) -> str:
    """"x" → "variant_x"; "channel:12" → "variant_channel_12"."""
    return "variant_" + key.replace(":", "_")


def variant_label(key: str, channels: list[Channel]) -> str:
    if key.startswith("channel:"):
        found = next((c for c in channels if f"channel:{c.pk}" == key), None)
        return str(found) if found else "a channel"
    return Platform(key).label if key in Platform.values else key


def read_variants(data, channel_ids: list[int], channels: list[Channel]) -> dict[str, str]:
    """The override texts for the chosen platforms and channels (others are hidden on the page and dropped)."""
    chosen = [c for c in channels if c.pk in set(channel_ids)]
    keys = [p for p in PLATFORMS if any(c.platform == p for c in chosen)] + [f"channel:{c.pk}" for c in chosen]
    variants = {}
    for key in keys:
        # PostgreSQL refuses NUL in text and JSON: drop it rather than fail.
        text = str(data.get(variant_field(key), "") or "").replace("\x00", "")
        if text.strip():
            variants[key] = text.strip()
    return variants


def read_media(data) -> list[MediaRow]:
    """The images in the order the page lists them, without those ticked for removal."""
    rows: list[MediaRow] = []
    seen: set[int] = set()
    getlist = data.getlist if hasattr(data, "getlist") else lambda key: data.get(key, [])
    for raw in getlist("media")[:20]:
        media_id = whole_number(raw)
        if media_id is None or media_id in seen:
            continue
        seen.add(media_id)
        if data.get(f"remove_{media_id}"):
            continue
        rows.append(MediaRow(id=media_id, alt_text=" ".join(str(data.get(f"alt_{media_id}", "") or "").replace("\x00", "").split())))
    return rows
