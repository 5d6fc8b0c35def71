"""Inbox settings pages: department policies (service levels, office hours, reply approval), bank holidays,
risk keywords, saved replies, out-of-hours replies per channel and the quarantine list.

Thin views: parse with a form, call one service in inbox.settings_services (which checks roles and departments
again and audits), render. Objects come through visible_to() (another organisation's object is a 404); a
role without the capability gets a 403, a manager another department's policy a 404 (departments they
cannot manage are not offered to them).
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Department
from accounts.roles import Capability
from channels_app.models import Channel
from inbox import settings_services as services
from inbox.models import BankHoliday, QuarantinedItem, RiskKeyword, SavedReply
from inbox.sla import MAX_RANGES_PER_DAY, WEEKDAY_LABELS, WEEKDAYS, parse_office_hours
from smm.forms import StyledForm, add_service_errors
from smm.scoping import get_visible_or_404, member_required, require_capability

MAX_TARGET_MINUTES = 365 * 24 * 60
QUARANTINE_PAGE = 100


def _managed_departments(membership):
    """Live departments whose inbox this member may manage (admins: all; managers: their own)."""
    departments = Department.objects.visible_to(membership).active()
    if not membership.sees_all_departments:
        departments = departments.filter(pk__in=membership.department_ids)
    return departments.order_by("name")


# ------------------------------------------------------------------------------------------- forms
UNITS = [("minutes", "minutes"), ("hours", "hours")]


def _split_minutes(minutes: int) -> tuple[int, str]:
    return (minutes // 60, "hours") if minutes % 60 == 0 else (minutes, "minutes")


class PolicyForm(StyledForm, forms.Form):
    first_response_value = forms.IntegerField(label="First response within", min_value=1)
    first_response_unit = forms.ChoiceField(label="Unit for first response", choices=UNITS)
    resolution_value = forms.IntegerField(label="Resolved within", min_value=1)
    resolution_unit = forms.ChoiceField(label="Unit for resolution", choices=UNITS)

    def __init__(self, *args, department: Department, **kwargs):
        super().__init__(*args, **kwargs)
        for day in WEEKDAYS:
            label = WEEKDAY_LABELS[day]
            for n in range(1, MAX_RANGES_PER_DAY + 1):
                again = "" if n == 1 else " again"
                for edge, verb in (("start", "opens"), ("end", "closes")):
                    self.fields[f"{day}_{n}_{edge}"] = forms.CharField(
                        label=f"{label}: {verb}{again}",
                        required=False,
                        max_length=5,
                        widget=forms.TextInput(
                            attrs={"inputmode": "numeric", "autocomplete": "off", "size": 5}
                        ),
                    )
        self.fields["reply_approval_for"] = forms.ModelMultipleChoiceField(
            label="Replies from these people need approval",
            required=False,
            queryset=services.approval_candidates(department),
            widget=forms.CheckboxSelectMultiple,
            help_text="Members of this department (for example trainees) whose replies wait for an approver.",
        )

    def days(self) -> list[dict]:
        return [
            {
                "key": day,
                "label": WEEKDAY_LABELS[day],
                "fields": [self[f"{day}_{n}_{edge}"] for n in range(1, MAX_RANGES_PER_DAY + 1) for edge in ("start", "end")],
            }
            for day in WEEKDAYS
        ]

    def clean(self):
        cleaned = super().clean()
        for kind in ("first_response", "resolution"):
            value, unit = cleaned.get(f"{kind}_value"), cleaned.get(f"{kind}_unit")
            if value is None or unit is None:
                continue
            minutes = value * 60 if unit == "hours" else value
            if minutes > MAX_TARGET_MINUTES:
                self.add_error(f"{kind}_value", "Choose a target of at most a year.")
            else:
                cleaned[f"{kind}_minutes"] = minutes
        office_hours = {}
        for day in WEEKDAYS:
            ranges = []
            for n in range(1, MAX_RANGES_PER_DAY + 1):
                start = (cleaned.get(f"{day}_{n}_start") or "").strip()
                end = (cleaned.get(f"{day}_{n}_end") or "").strip()
                if not start and not end:
                    continue
                if not start or not end:
                    missing = f"{day}_{n}_start" if not start else f"{day}_{n}_end"
                    self.add_error(missing, "Enter both the opening and closing time, or leave both empty.")
                    continue
                ranges.append([start, end])
            try:
                parse_office_hours({day: ranges})
            except ValidationError as exc:
                self.add_error(f"{day}_1_start", exc.messages[0])
            office_hours[day] = ranges
        cleaned["office_hours"] = office_hours
        return cleaned


class BankHolidayForm(StyledForm, forms.Form):
    date = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    name = forms.CharField(label="Name", max_length=120, help_text="For example: Summer bank holiday.")


class EnglandWalesForm(StyledForm, forms.Form):
    year = forms.IntegerField(label="Year", min_value=2000, max_value=2100)


class RiskKeywordForm(StyledForm, forms.Form):
    phrase = forms.CharField(
        label="Word or phrase",
        max_length=100,
        help_text="Matched as a whole word or phrase, in any case. For example: self-harm.",
    )


class SavedReplyForm(StyledForm, forms.Form):
    title = forms.CharField(label="Title", max_length=120)
    body = forms.CharField(
        label="Reply text",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="You can use "
        + "; ".join(f"{{{name}}} for {meaning}" for name, meaning in services.PLACEHOLDERS.items())
        + ".",
    )

    def __init__(self, *args, membership, **kwargs):
        super().__init__(*args, **kwargs)
        field = forms.ModelChoiceField(
            label="Department",
            queryset=_managed_departments(membership),
            required=not membership.sees_all_departments,
            empty_label="Whole organisation" if membership.sees_all_departments else None,
            help_text="Agents see the saved replies of their departments and those for the whole organisation.",
        )
        field.widget.attrs["class"] = "form-select"
        self.fields = {"title": self.fields["title"], "department": field, "body": self.fields["body"]}

    def clean_body(self):
        body = self.cleaned_data["body"]
        services.validate_placeholders(body)
        return body


class OutOfHoursForm(StyledForm, forms.Form):
    enabled = forms.BooleanField(label="Send an automatic reply outside office hours", required=False)
    text = forms.CharField(
        label="Reply text",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Sent at most once per conversation in each closed period. Signpost urgent help, for example: "
        "“We are closed until 9am. In an emergency call 999; for non-emergencies call 101.”",
    )


class PollIntervalForm(StyledForm, forms.Form):
    poll_interval_seconds = forms.IntegerField(
        label="Check for new messages every (seconds)",
        min_value=services.POLL_INTERVAL_MIN,
        max_value=services.POLL_INTERVAL_MAX,
        error_messages={"invalid": services.POLL_INTERVAL_ERROR},
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text=f"From {services.POLL_INTERVAL_MIN} seconds to {services.POLL_INTERVAL_MAX} (an hour); 30 unless "
        "changed. Mentions, comments and direct messages are all read at this pace; it slows down by itself while "
        "the platform limits us. A change applies from the next check.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key in ("min_value", "max_value"):
            self.fields["poll_interval_seconds"].error_messages[key] = services.POLL_INTERVAL_ERROR


# ------------------------------------------------------------------------------------------- index
@member_required()
@require_GET
def settings_index(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    can_manage = membership.can(Capability.MANAGE_INBOX)
    departments = list(_managed_departments(membership)) if can_manage else []
    channels = []
    if can_manage:
        channels = [
            channel
            for channel in Channel.objects.visible_to(membership).connected().for_list().select_related(
                "out_of_hours_reply"
            )
            if services.can_manage_department(membership, channel.department_id)
        ]
        for channel in channels:
            reply = getattr(channel, "out_of_hours_reply", None)
            channel.out_of_hours_enabled = bool(reply and reply.enabled)
    can_quarantine = membership.can(Capability.MANAGE_ORGANISATION)
    return render(
        request,
        "inbox/settings/index.html",
        {
            "can_manage": can_manage,
            "departments": departments,
            "channels": channels,
            "can_quarantine": can_quarantine,
            "unresolved_count": QuarantinedItem.objects.visible_to(membership).unresolved().count()
            if can_quarantine
            else 0,
        },
    )


# ----------------------------------------------------------------------------------------- policies
@member_required(Capability.MANAGE_INBOX)
@require_http_methods(["GET", "POST"])
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    membership = request.membership
    department = get_visible_or_404(Department.objects.active(), membership, Capability.MANAGE_INBOX, pk=pk)
    if not services.can_manage_department(membership, department.pk):
        raise Http404("Not found.")
    policy = services.policy_for(department)
    initial = {}
    for kind in ("first_response", "resolution"):
        initial[f"{kind}_value"], initial[f"{kind}_unit"] = _split_minutes(getattr(policy, f"{kind}_minutes"))
    for day, ranges in (policy.office_hours or {}).items():
        for n, (start, end) in enumerate(ranges[:MAX_RANGES_PER_DAY], start=1):
            initial[f"{day}_{n}_start"], initial[f"{day}_{n}_end"] = start, end
    if policy.pk:
        initial["reply_approval_for"] = list(policy.reply_approval_for.values_list("pk", flat=True))
    form = PolicyForm(request.POST or None, initial=initial, department=department)
    if request.method == "POST" and form.is_valid():
        try:
            services.policy_update(
                actor=membership,
                department=department,
                first_response_minutes=form.cleaned_data["first_response_minutes"],
                resolution_minutes=form.cleaned_data["resolution_minutes"],
                office_hours=form.cleaned_data["office_hours"],
                reply_approval_user_ids=[user.pk for user in form.cleaned_data["reply_approval_for"]],
            )
        except ValidationError as exc:
            _map = {"first_response": "first_response_value", "resolution": "resolution_value"}
            for field, errors in exc.message_dict.items():
                form.add_error(_map.get(field, field) if _map.get(field, field) in form.fields else None, errors)
        else:
            messages.success(request, f"Inbox settings for {department.name} saved.")
            return redirect("inbox:settings_policy", pk=department.pk)
    return render(request, "inbox/settings/policy.html", {"department": department, "form": form})


# ------------------------------------------------------------------------------------ bank holidays
@member_required(Capability.MANAGE_INBOX)
@require_http_methods(["GET", "POST"])
def bank_holidays(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    add_form = BankHolidayForm(None)
    england_form = EnglandWalesForm(None, initial={"year": timezone.localdate().year})
    if request.method == "POST":
        require_capability(membership, Capability.MANAGE_ORGANISATION)
        if request.POST.get("action") == "england_wales":
            england_form = EnglandWalesForm(request.POST)
            if england_form.is_valid():
                year = england_form.cleaned_data["year"]
                try:
                    added = services.bank_holidays_add_england_and_wales(actor=membership, year=year)
                except ValidationError as exc:
                    add_service_errors(england_form, exc)
                else:
                    messages.success(request, f"Added {added} England and Wales bank holidays for {year}.")
                    return redirect("inbox:settings_bank_holidays")
        else:
            add_form = BankHolidayForm(request.POST)
            if add_form.is_valid():
                try:
                    holiday = services.bank_holiday_add(
                        actor=membership, day=add_form.cleaned_data["date"], name=add_form.cleaned_data["name"]
                    )
                except ValidationError as exc:
                    add_service_errors(add_form, exc)
                else:
                    messages.success(request, f"{holiday.name} ({holiday.date:%-d %B %Y}) added.")
                    return redirect("inbox:settings_bank_holidays")
    today = timezone.localdate()
    holidays = BankHoliday.objects.visible_to(membership)
    return render(
        request,
        "inbox/settings/bank_holidays.html",
        {
            "upcoming": holidays.filter(date__gte=today).order_by("date"),
            "past": holidays.filter(date__lt=today, date__gte=today.replace(day=1, month=1)).order_by("date"),
            "add_form": add_form,
            "england_form": england_form,
            "can_edit": membership.can(Capability.MANAGE_ORGANISATION),
        },
    )


@member_required(Capability.MANAGE_ORGANISATION)
@require_POST
def bank_holiday_delete(request: HttpRequest, pk: int) -> HttpResponse:
    holiday = get_visible_or_404(BankHoliday.objects, request.membership, Capability.MANAGE_ORGANISATION, pk=pk)
    services.bank_holiday_remove(actor=request.membership, holiday=holiday)
    messages.success(request, f"{holiday.name} ({holiday.date:%-d %B %Y}) removed.")
    return redirect("inbox:settings_bank_holidays")


# ------------------------------------------------------------------------------------ risk keywords
@member_required(Capability.MANAGE_INBOX)
@require_http_methods(["GET", "POST"])
def risk_keywords(request: HttpRequest) -> HttpResponse:
    form = RiskKeywordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            keyword = services.risk_keyword_add(actor=request.membership, phrase=form.cleaned_data["phrase"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"“{keyword.phrase}” added.")
            return redirect("inbox:settings_risk_keywords")
    keywords = RiskKeyword.objects.visible_to(request.membership).order_by("phrase")
    return render(request, "inbox/settings/risk_keywords.html", {"keywords": keywords, "form": form})


@member_required(Capability.MANAGE_INBOX)
@require_POST
def risk_keyword_delete(request: HttpRequest, pk: int) -> HttpResponse:
    keyword = get_visible_or_404(RiskKeyword.objects, request.membership, Capability.MANAGE_INBOX, pk=pk)
    services.risk_keyword_remove(actor=request.membership, keyword=keyword)
    messages.success(request, f"“{keyword.phrase}” removed.")
    return redirect("inbox:settings_risk_keywords")


# ------------------------------------------------------------------------------------ saved replies
@member_required()
@require_GET
def saved_replies(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    replies = list(
        SavedReply.objects.visible_to(membership).select_related("department").order_by("department__name", "title")
    )
    for saved in replies:
        saved.can_edit = services.can_manage_department(membership, saved.department_id)
    return render(
        request,
        "inbox/settings/saved_replies.html",
        {
            "replies": replies,
            "can_create": membership.can(Capability.MANAGE_INBOX) and _managed_departments(membership).exists(),
        },
    )


@member_required(Capability.MANAGE_INBOX)
@require_http_methods(["GET", "POST"])
def saved_reply_create(request: HttpRequest) -> HttpResponse:
    form = SavedReplyForm(request.POST or None, membership=request.membership)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.saved_reply_create(
                actor=request.membership,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                department=form.cleaned_data["department"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Saved reply “{saved.title}” created.")
            return redirect("inbox:settings_saved_replies")
    return render(request, "inbox/settings/saved_reply_form.html", {"form": form, "saved": None})


def _editable_saved_reply(request: HttpRequest, pk: int) -> SavedReply:
    saved = get_visible_or_404(
        SavedReply.objects.select_related("department"), request.membership, Capability.MANAGE_INBOX, pk=pk
    )
    if not services.can_manage_department(request.membership, saved.department_id):
        raise PermissionDenied("Only admins change organisation-wide saved replies.")
    return saved


@member_required(Capability.MANAGE_INBOX)
@require_http_methods(["GET", "POST"])
def saved_reply_edit(request: HttpRequest, pk: int) -> HttpResponse:
    saved = _editable_saved_reply(request, pk)
    form = SavedReplyForm(
        request.POST or None,
        membership=request.membership,
        initial={"title": saved.title, "body": saved.body, "department": saved.department_id},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.saved_reply_update(
                actor=request.membership,
                saved_reply=saved,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
                department=form.cleaned_data["department"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Saved reply “{saved.title}” updated.")
            return redirect("inbox:settings_saved_replies")
    return render(request, "inbox/settings/saved_reply_form.html", {"form": form, "saved": saved})


@member_required(Capability.MANAGE_INBOX)
@require_POST
def saved_reply_delete(request: HttpRequest, pk: int) -> HttpResponse:
    saved = _editable_saved_reply(request, pk)
    services.saved_reply_delete(actor=request.membership, saved_reply=saved)
    messages.success(request, f"Saved reply “{saved.title}” deleted.")
    return redirect("inbox:settings_saved_replies")


# ------------------------------------------------------------------------------------- out of hours
POLLING = "polling"


@member_required(Capability.MANAGE_INBOX)
@require_http_methods(["GET", "POST"])
def out_of_hours_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """A channel's inbox settings: how often it is polled, and its out-of-hours reply (two forms, one page)."""
    membership = request.membership
    channel = get_visible_or_404(
        Channel.objects.connected().select_related("department"), membership, Capability.MANAGE_INBOX, pk=pk
    )
    if not services.can_manage_department(membership, channel.department_id):
        raise PermissionDenied("You can change inbox settings only for your own departments.")
    current = services.out_of_hours_for(channel)
    posted = request.POST if request.method == "POST" else None
    polling = posted is not None and posted.get("section") == POLLING
    form = OutOfHoursForm(
        None if polling else posted, initial={"enabled": current.enabled, "text": current.text}
    )
    poll_form = PollIntervalForm(
        posted if polling else None, initial={"poll_interval_seconds": channel.poll_interval_seconds}
    )
    if polling and poll_form.is_valid():
        before = channel.poll_interval_seconds
        try:
            services.poll_interval_update(
                actor=membership, channel=channel, seconds=poll_form.cleaned_data["poll_interval_seconds"]
            )
        except ValidationError as exc:
            add_service_errors(poll_form, exc)
        else:
            seconds = poll_form.cleaned_data["poll_interval_seconds"]
            if seconds == before:
                messages.info(request, f"{channel} is already checked every {seconds} seconds.")
            else:
                messages.success(
                    request, f"{channel} will be checked for new messages every {seconds} seconds from its next check."
                )
            return redirect("inbox:settings_out_of_hours", pk=channel.pk)
    elif posted is not None and not polling and form.is_valid():
        try:
            services.out_of_hours_update(
                actor=membership, channel=channel, enabled=form.cleaned_data["enabled"], text=form.cleaned_data["text"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Out-of-hours reply for {channel} saved.")
            return redirect("inbox:settings_out_of_hours", pk=channel.pk)
    return render(
        request,
        "inbox/settings/out_of_hours.html",
        {"channel": channel, "form": form, "poll_form": poll_form, "polling_section": POLLING},
    )


# --------------------------------------------------------------------------------------- quarantine
@member_required(Capability.MANAGE_ORGANISATION)
@require_GET
def quarantine_list(request: HttpRequest) -> HttpResponse:
    show_all = request.GET.get("show") == "all"
    items = QuarantinedItem.objects.visible_to(request.membership).select_related("channel")
    if not show_all:
        items = items.unresolved()
    items = list(items.order_by("-created_at", "-id")[: QUARANTINE_PAGE + 1])
    more = len(items) > QUARANTINE_PAGE
    items = items[:QUARANTINE_PAGE]
    for item in items:
        item.pretty = json.dumps(item.raw, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return render(
        request, "inbox/settings/quarantine.html", {"items": items, "show_all": show_all, "more": more}
    )


@member_required(Capability.MANAGE_ORGANISATION)
@require_POST
def quarantine_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_visible_or_404(QuarantinedItem.objects, request.membership, Capability.MANAGE_ORGANISATION, pk=pk)
    try:
        services.quarantine_resolve(actor=request.membership, item=item)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Quarantined item marked resolved.")
    return redirect("inbox:settings_quarantine")


urls = [
    path("inbox/settings/", settings_index, name="settings"),
    path("inbox/settings/departments/<int:pk>/", policy_edit, name="settings_policy"),
    path("inbox/settings/bank-holidays/", bank_holidays, name="settings_bank_holidays"),
    path("inbox/settings/bank-holidays/<int:pk>/delete/", bank_holiday_delete, name="settings_bank_holiday_delete"),
    path("inbox/settings/risk-keywords/", risk_keywords, name="settings_risk_keywords"),
    path("inbox/settings/risk-keywords/<int:pk>/delete/", risk_keyword_delete, name="settings_risk_keyword_delete"),
    path("inbox/settings/saved-replies/", saved_replies, name="settings_saved_replies"),
    path("inbox/settings/saved-replies/new/", saved_reply_create, name="settings_saved_reply_create"),
    path("inbox/settings/saved-replies/<int:pk>/", saved_reply_edit, name="settings_saved_reply_edit"),
    path("inbox/settings/saved-replies/<int:pk>/delete/", saved_reply_delete, name="settings_saved_reply_delete"),
    path("inbox/settings/channels/<int:pk>/out-of-hours/", out_of_hours_edit, name="settings_out_of_hours"),
    path("inbox/settings/quarantine/", quarantine_list, name="settings_quarantine"),
    path("inbox/settings/quarantine/<int:pk>/resolve/", quarantine_resolve, name="settings_quarantine_resolve"),
]
