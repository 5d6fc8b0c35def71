"""The channel-shift data pages: offline contact volumes (a month × channel grid per department, with a form to
enter or overwrite a figure) and the costs per contact (each channel's figure with its source; admins edit or
reset to the default).

Thin views: parse with a form, call one service in metrics.services (which checks the role and department again
and audits), render. Choices are narrowed to the member's organisation and departments, so another
organisation's department is a form error, never its data.
"""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from accounts.roles import Capability
from metrics import services
from metrics.kpis import unit_costs
from metrics.models import OFFLINE_CHANNELS, ContactChannel, ContactCost, OfflineContactVolume
from smm.forms import StyledForm, add_service_errors
from smm.scoping import member_required, require_capability

MONTHS_SHOWN = 12
MONTH_FORMATS = ["%Y-%m", "%Y-%m-%d"]


# ------------------------------------------------------------------------------------------- forms
class MonthField(forms.DateField):
    widget = forms.DateInput(attrs={"type": "month", "placeholder": "YYYY-MM", "autocomplete": "off"},
                             format="%Y-%m")

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", MONTH_FORMATS)
        kwargs.setdefault("error_messages", {"invalid": "Enter a month as YYYY-MM, for example 2026-03."})
        super().__init__(**kwargs)


class GridForm(StyledForm, forms.Form):
    """Which department and months the grid shows (GET)."""

    department = forms.ModelChoiceField(label="Department", queryset=None, empty_label=None, required=False)
    until = MonthField(label="Show the 12 months up to", required=False,
                       help_text="A month as YYYY-MM; leave empty for this month.")

    def __init__(self, *args, membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = services.editable_departments(membership)
        self.fields["department"].error_messages["invalid_choice"] = "Choose one of your departments."


class VolumeForm(StyledForm, forms.Form):
    department = forms.ModelChoiceField(label="Department", queryset=None, empty_label=None)
    month = MonthField(label="Month", help_text="As YYYY-MM. This month or earlier.")
    channel = forms.ChoiceField(label="Channel", choices=[(c.value, c.label) for c in OFFLINE_CHANNELS])
    volume = forms.IntegerField(
        label="Contacts", min_value=0, max_value=services.MAX_VOLUME,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        error_messages={"invalid": "Enter a whole number of contacts, such as 1250."},
        help_text="How many contacts this department handled on that channel in that month. Saving again "
        "overwrites the figure.",
    )

    def __init__(self, *args, membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = services.editable_departments(membership)
        self.fields["department"].error_messages["invalid_choice"] = "Choose one of your departments."


class CostForm(StyledForm, forms.Form):
    channel = forms.ChoiceField(label="Channel", choices=ContactChannel.choices)
    cost = forms.DecimalField(
        label="Cost per contact (£)", min_value=0, max_value=services.MAX_COST, decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        error_messages={"invalid": "Enter an amount such as 2.83."},
    )
    source = forms.CharField(
        label="Source", max_length=services.MAX_SOURCE,
        help_text="Where the figure comes from: your own costing, a study or a benchmark, with its year.",
    )


# ---------------------------------------------------------------------------------------- volumes
def _months(until: date) -> list[date]:
    months, month = [], until.replace(day=1)
    for _ in range(MONTHS_SHOWN):
        months.append(month)
        month = (month - timedelta(days=1)).replace(day=1)
    return months


def _grid(department, months: list[date]) -> list[dict]:
    rows = (OfflineContactVolume.objects.filter(organisation_id=department.organisation_id, department=department,
                                                month__in=months)
            .select_related("updated_by"))
    cells = {(row.month, row.channel): row for row in rows}
    grid = []
    for month in months:
        found = [cells[(month, c.value)] for c in OFFLINE_CHANNELS if (month, c.value) in cells]
        latest = max(found, key=lambda row: row.updated_at) if found else None
        total = sum(row.volume for row in found) if found else None
        grid.append({
            "month": month,
            "cells": [f"{cells[(month, c.value)].volume:,}" if (month, c.value) in cells else ""
                      for c in OFFLINE_CHANNELS],
            "total": f"{total:,}" if total is not None else "",
            "latest": latest,
        })
    return grid


@member_required(Capability.VIEW_DASHBOARDS)
@require_http_methods(["GET", "POST"])
def volumes(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    this_month = services.current_month(membership.organisation_id)
    departments = services.editable_departments(membership)
    first = departments.first()
    grid_form = GridForm(request.GET or None, membership=membership, auto_id="grid_%s",
                         initial={"department": first.pk if first else None})
    department, until = first, this_month
    if request.GET and grid_form.is_valid():
        department = grid_form.cleaned_data["department"] or first
        until = min((grid_form.cleaned_data["until"] or this_month).replace(day=1), this_month)
    form = VolumeForm(request.POST or None, membership=membership,
                      initial={"department": department.pk if department else None, "month": this_month})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            row = services.offline_volume_set(actor=membership, department=data["department"], month=data["month"],
                                              channel=data["channel"], volume=data["volume"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{data['department'].name}: {row.get_channel_display()} contacts in "
                                      f"{row.month:%B %Y} saved ({row.volume:,}).")
            query = urlencode({"department": data["department"].pk, "until": f"{max(row.month, until):%Y-%m}"})
            return redirect(f"{reverse('metrics:channel_shift_data')}?{query}")
    return render(request, "metrics/channel_shift_data.html", {
        "department": department,
        "grid_form": grid_form,
        "form": form,
        "channels": OFFLINE_CHANNELS,
        "grid": _grid(department, _months(until)) if department else [],
        "can_edit_costs": services.can_edit_costs(membership),
    }, status=400 if request.method == "POST" and form.errors else 200)


# ------------------------------------------------------------------------------------------ costs
@member_required(Capability.VIEW_DASHBOARDS)
@require_http_methods(["GET", "POST"])
def costs(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    form = CostForm(None)
    if request.method == "POST":
        require_capability(membership, Capability.MANAGE_ORGANISATION)
        if request.POST.get("action") == "reset":
            channel = request.POST.get("channel", "")
            try:
                reset = services.contact_cost_reset_to_default(actor=membership, channel=channel)
            except ValidationError:
                messages.error(request, "Choose one of the contact channels to reset.")
                return redirect("metrics:channel_shift_costs")
            label = ContactChannel(channel).label
            if reset:
                messages.success(request, f"{label}: back to the default cost.")
            else:
                messages.info(request, f"{label} already uses the default cost.")
            return redirect("metrics:channel_shift_costs")
        form = CostForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.contact_cost_set(actor=membership, channel=data["channel"], cost=data["cost"],
                                          source=data["source"])
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"{ContactChannel(data['channel']).label}: cost per contact saved.")
                return redirect("metrics:channel_shift_costs")
    rows = [{"channel": channel, **values} for channel, values in unit_costs(membership.organisation_id).items()]
    changed_by = {row.channel: row for row in ContactCost.objects.for_organisation(membership.organisation_id)
                  .select_related("updated_by")}
    for row in rows:
        row["own"] = changed_by.get(row["channel"])
    return render(request, "metrics/channel_shift_data_costs.html", {
        "rows": rows,
        "form": form,
        "can_edit": services.can_edit_costs(membership),
    }, status=400 if form.errors else 200)
