"""The dashboards' one filter form (GET): period (presets or custom dates), comparison, department, channel, platform.

The parameters are validated by metrics.kpis.kpi_filter for the member (their departments only); this module adds
what belongs to the form: the choices (narrowed to what the member sees), which period option is selected, and the
comparison checkbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.http import QueryDict

from accounts.models import Department, Membership
from channels_app.models import Channel, Platform
from metrics import kpis
from metrics.kpis import KpiFilter

PERIODS = [
    ("7d", "Last 7 days"),
    ("28d", "Last 28 days"),
    ("90d", "Last 90 days"),
    ("this_month", "This month"),
    ("last_month", "Last month"),
    ("custom", "Custom dates (from and to below)"),
]
DEFAULT_PERIOD = "28d"
# Contacts over time: per day, week or month ("" picks day up to 92 days, else week), broken down by one dimension.
GRAINS = [("", "Automatic (days, or weeks past 92 days)"), ("day", "Day"), ("week", "Week"), ("month", "Month")]
BREAKDOWNS = [("channel", "Channel"), ("platform", "Platform"), ("department", "Department")]
FIELD_LABELS = {
    "preset": "Period",
    "from": "From",
    "to": "To",
    "department": "Department",
    "channel": "Channel",
    "platform": "Platform",
    "compare": "Compare",
    "grain": "Contacts per",
    "by": "Break down by",
    "format": "Format",
    "table": "Table",
}
# The parameters the form carries; links between the dashboards keep them.
FORM_FIELDS = ("preset", "from", "to", "compare", "department", "channel", "platform", "grain", "by")


@dataclass
class DashboardFilter:
    """The form's state for one request: what was asked, the choices offered, and (when valid) the KpiFilter."""

    params: QueryDict
    period: str
    compare: bool
    departments: list[tuple[str, str]]
    channels: list[tuple[str, str]]
    platforms: list[tuple[str, str]]
    channel_info: dict[int, dict]
    grain: str = ""
    by: str = "channel"
    kpi: KpiFilter | None = None
    errors: dict[str, str] | None = None

    @property
    def query(self) -> str:
        """The filter as a query string (without format and table), for links to the other dashboards."""
        kept = QueryDict(mutable=True)
        for name in FORM_FIELDS:
            for value in self.params.getlist(name):
                if value != "":
                    kept.appendlist(name, value)
        return kept.urlencode()

    @property
    def period_choices(self) -> list[tuple[str, str]]:
        """The presets offered, plus one asked for in the URL that the list does not show (e.g. 365d)."""
        if self.period in dict(PERIODS) or self.period not in kpis.PRESETS:
            return PERIODS
        return [*PERIODS[:-1], (self.period, f"Last {kpis.PRESETS[self.period]} days"), PERIODS[-1]]

    @property
    def grain_choices(self) -> list[tuple[str, str]]:
        return GRAINS

    @property
    def breakdown_choices(self) -> list[tuple[str, str]]:
        return BREAKDOWNS

    @property
    def error_list(self) -> list[tuple[str, str]]:
        return [(FIELD_LABELS.get(name, name), message) for name, message in (self.errors or {}).items()]


def _period(params: QueryDict) -> str:
    preset = params.get("preset", "")
    if preset:
        return preset
    return "custom" if params.get("from") or params.get("to") else DEFAULT_PERIOD


def _kpi_params(params: QueryDict, period: str) -> QueryDict:
    """What kpi_filter reads: the chosen preset, or the custom dates (the other one is left out)."""
    cleaned = params.copy()
    if period == "custom":
        cleaned.pop("preset", None)
    else:
        cleaned.pop("from", None)
        cleaned.pop("to", None)
        cleaned["preset"] = period
    return cleaned


def dashboard_filter(membership: Membership, params: QueryDict) -> DashboardFilter:
    period = _period(params)
    # A fresh visit (no form sent yet) compares with the previous period; after that the checkbox decides.
    submitted = any(name in params for name in ("preset", "from", "to"))
    compare = params.get("compare") == "1" if submitted else True
    departments = Department.objects.for_organisation(membership.organisation_id)
    if not membership.sees_all_departments:
        departments = departments.filter(pk__in=membership.department_ids)
    channels = list(Channel.objects.visible_to(membership).order_by("platform", "handle")
                    .values("pk", "handle", "platform", "department_id"))
    labels = dict(Platform.choices)
    seen_platforms = {channel["platform"] for channel in channels}
    result = DashboardFilter(
        params=params,
        period=period,
        compare=compare,
        departments=[(str(pk), name) for pk, name in departments.order_by("name").values_list("pk", "name")],
        channels=[(str(c["pk"]), f"{c['handle']} ({labels.get(c['platform'], c['platform'])})") for c in channels],
        platforms=[(value, label) for value, label in Platform.choices if value in seen_platforms],
        channel_info={c["pk"]: {**c, "platform_label": labels.get(c["platform"], c["platform"])} for c in channels},
    )
    errors: dict[str, str] = {}
    grain, by = params.get("grain", ""), params.get("by") or "channel"
    if grain not in dict(GRAINS):
        errors["grain"] = f"Unknown grain “{grain}”: choose day, week or month."
    else:
        result.grain = grain
    if by not in dict(BREAKDOWNS):
        errors["by"] = f"Unknown breakdown “{by}”: choose channel, platform or department."
    else:
        result.by = by
    if period == "custom" and not params.get("from"):
        errors["from"] = "Give a start date for custom dates (YYYY-MM-DD)."
    elif period not in dict(PERIODS) and period not in kpis.PRESETS:
        errors["preset"] = f"Unknown period “{period}”: choose one from the list."
    try:
        kpi = kpis.kpi_filter(membership, _kpi_params(params, period))
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, messages[0])
        kpi = None
    if errors:
        result.errors = errors
    else:
        result.kpi = kpi
    return result
