"""Response shapes of the KPI API (/api/v1/kpis/...): they describe, in the OpenAPI schema, what metrics.api
returns from the metrics.kpis functions. No serializer reads the database; each field's description is the
KPI's definition from metrics.definitions, the same words the dashboards and docs/kpis.md show.
"""

from __future__ import annotations

from rest_framework import serializers

from metrics.definitions import KPIS
from metrics.models import OFFLINE_CHANNELS, ContactChannel


def _d(key: str, extra: str = "") -> str:
    return (KPIS[key].definition + (" " + extra if extra else "")).strip()


def _shape(name: str, fields: dict) -> type[serializers.Serializer]:
    """A read-only serializer class built from a dict, so fields can be named `from` and `to`."""
    return type(name, (serializers.Serializer,), dict(fields))


SECONDS = "In seconds; null when there is nothing to measure."


def _int(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(read_only=True, help_text=help_text)


def _float(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(read_only=True, allow_null=True, help_text=help_text)


def _money(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, help_text=help_text)


# ------------------------------------------------------------------------------------------ shared parts
PeriodSerializer = _shape("KpiPeriod", {
    "from": serializers.DateField(read_only=True, help_text="First day, organisation time, inclusive."),
    "to": serializers.DateField(read_only=True, help_text="Last day, organisation time, inclusive."),
    "days": serializers.IntegerField(read_only=True, required=False, help_text="Days in the period."),
})


class AppliedFilterSerializer(serializers.Serializer):
    departments = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, read_only=True,
        help_text="The departments counted: those asked for, or all you can see (null: the whole organisation).")
    channels = serializers.ListField(child=serializers.IntegerField(), allow_null=True, read_only=True,
                                     help_text="The channels counted (null: all).")
    platform = serializers.CharField(allow_null=True, read_only=True, help_text="The platform counted (null: all).")


class ContactTotalsSerializer(serializers.Serializer):
    inbound_messages = _int(_d("inbound_messages"))
    outbound_messages = _int(_d("outbound_messages"))
    automatic_replies = _int(_d("automatic_replies"))
    conversations_opened = _int(_d("conversations_opened"))
    conversations_closed = _int(_d("conversations_closed"))


# ----------------------------------------------------------------------------------------------- overview
class HeadlineSerializer(ContactTotalsSerializer):
    first_response_p50 = _float(_d("first_response_time", "Median, clock hours. " + SECONDS))
    first_response_office_p50 = _float(_d("first_response_time", "Median, office hours. " + SECONDS))
    first_response_p90 = _float(_d("first_response_time", "90th percentile, clock hours. " + SECONDS))
    resolution_p50 = _float(_d("resolution_time", "Median, clock hours. " + SECONDS))
    first_response_sla_percent = _float(_d("first_response_sla", "Null when nothing was due."))
    resolution_sla_percent = _float(_d("resolution_sla", "Null when nothing was due."))
    posts = _int("Posts published in the period that have metrics (one per post and channel).")
    engagements = _int(_d("engagements"))
    follower_growth = _int(_d("follower_growth", "Net change, summed over the channels."))


# Each headline figure's change against the previous period, in percent (null when the previous was 0).
ChangeSerializer = _shape("KpiChange", {
    name: _float(f"Change of {name} against the previous period, in percent; null when the previous was 0.")
    for name in HeadlineSerializer._declared_fields
})


class OverviewSerializer(serializers.Serializer):
    period = PeriodSerializer(read_only=True)
    filters = AppliedFilterSerializer(read_only=True)
    current = HeadlineSerializer(read_only=True, help_text="This period's headline figures.")
    previous_period = PeriodSerializer(read_only=True, required=False,
                                       help_text="The period of the same length just before (with compare=true).")
    previous = HeadlineSerializer(read_only=True, required=False,
                                  help_text="The previous period's figures (with compare=true).")
    change_percent = ChangeSerializer(read_only=True, required=False,
                                      help_text="Change against the previous period (with compare=true).")


# -------------------------------------------------------------------------------------------------- inbox
class SeriesRowSerializer(ContactTotalsSerializer):
    period = serializers.DateField(read_only=True,
                                   help_text="The day, or the first day of the week (Monday) or month.")
    channel = serializers.IntegerField(read_only=True, required=False, help_text="Channel id (by channel).")
    channel_handle = serializers.CharField(read_only=True, required=False, help_text="The channel's handle.")
    platform = serializers.CharField(read_only=True, required=False, help_text="Platform (by platform).")
    department = serializers.IntegerField(read_only=True, required=False, help_text="Department id (by department).")
    department_name = serializers.CharField(read_only=True, required=False, help_text="The department's name.")


class SeriesSerializer(serializers.Serializer):
    total = SeriesRowSerializer(many=True, read_only=True, help_text="All channels together, per period.")
    by_channel = SeriesRowSerializer(many=True, read_only=True)
    by_platform = SeriesRowSerializer(many=True, read_only=True)
    by_department = SeriesRowSerializer(many=True, read_only=True)


class AttainmentSerializer(serializers.Serializer):
    met = _int("Conversations that met the target.")
    missed = _int("Conversations that missed it (late, or overdue and still waiting).")
    percent = _float("met ÷ (met + missed) in percent; null when nothing was due.")


class ResponseTimesSerializer(serializers.Serializer):
    conversations = _int("Conversations opened in the period.")
    responded = _int("Of those, answered by a person.")
    resolved = _int("Of those, closed now.")
    first_response_seconds_p50 = _float(_d("first_response_time", "Median, clock hours. " + SECONDS))
    first_response_seconds_p90 = _float(_d("first_response_time", "90th percentile, clock hours. " + SECONDS))
    first_response_office_seconds_p50 = _float(_d("first_response_time", "Median, office hours. " + SECONDS))
    first_response_office_seconds_p90 = _float(_d("first_response_time", "90th percentile, office hours. " + SECONDS))
    resolution_seconds_p50 = _float(_d("resolution_time", "Median, clock hours. " + SECONDS))
    resolution_seconds_p90 = _float(_d("resolution_time", "90th percentile, clock hours. " + SECONDS))
    resolution_office_seconds_p50 = _float(_d("resolution_time", "Median, office hours. " + SECONDS))
    resolution_office_seconds_p90 = _float(_d("resolution_time", "90th percentile, office hours. " + SECONDS))
    first_response_sla = AttainmentSerializer(read_only=True, help_text=_d("first_response_sla"))
    resolution_sla = AttainmentSerializer(read_only=True, help_text=_d("resolution_sla"))


class DepartmentTimesSerializer(ResponseTimesSerializer):
    department = _int("Department id.")
    department_name = serializers.CharField(read_only=True)


class AgentTimesSerializer(ResponseTimesSerializer):
    agent = _int("The user id of the person who sent the first reply.")
    agent_name = serializers.CharField(read_only=True)


class WorkloadSerializer(serializers.Serializer):
    agent = _int("User id.")
    agent_name = serializers.CharField(read_only=True)
    replies_sent = _int(_d("agent_replies"))
    conversations_replied = _int("Conversations this person replied to, counted once per day.")
    first_responses = _int("Conversations opened in the period whose first reply this person sent.")


class InboxSerializer(serializers.Serializer):
    period = PeriodSerializer(read_only=True)
    filters = AppliedFilterSerializer(read_only=True)
    grain = serializers.ChoiceField(choices=["day", "week", "month"], read_only=True)
    totals = ContactTotalsSerializer(read_only=True)
    series = SeriesSerializer(read_only=True)
    response_times = ResponseTimesSerializer(read_only=True)
    response_times_by_department = DepartmentTimesSerializer(many=True, read_only=True)
    response_times_by_agent = AgentTimesSerializer(many=True, read_only=True)
    workload = WorkloadSerializer(many=True, read_only=True, help_text=_d("agent_replies"))


# --------------------------------------------------------------------------------------------- engagement
METHOD = ('"impressions" or "followers": the denominator of the rate (the two are not comparable); '
          '"" when there is none.')


class ChannelEngagementSerializer(serializers.Serializer):
    channel = _int("Channel id.")
    handle = serializers.CharField(read_only=True)
    platform = serializers.CharField(read_only=True)
    posts = _int("Posts published in the period with metrics.")
    engagements = _int(_d("engagements"))
    impressions = serializers.IntegerField(read_only=True, allow_null=True,
                                           help_text="Summed impressions, where the platform gives them.")
    engagement_rate = _float(_d("engagement_rate"))
    rate_method = serializers.CharField(read_only=True, help_text=METHOD)
    followers_start = serializers.IntegerField(read_only=True, allow_null=True,
                                               help_text="Followers on the period's first snapshot.")
    followers_end = serializers.IntegerField(read_only=True, allow_null=True,
                                             help_text="Followers on the period's last snapshot.")
    follower_growth = serializers.IntegerField(read_only=True, allow_null=True, help_text=_d("follower_growth"))
    follower_growth_percent = _float(_d("follower_growth"))


class PostRateSerializer(serializers.Serializer):
    target = _int("The post's publish target (post × channel) id.")
    post = _int("Post id.")
    title = serializers.CharField(read_only=True)
    channel = _int("Channel id.")
    channel_handle = serializers.CharField(read_only=True)
    platform = serializers.CharField(read_only=True)
    url = serializers.CharField(read_only=True, allow_null=True, help_text="The post on the platform.")
    published_at = serializers.DateTimeField(read_only=True)
    likes = _int("Likes.")
    replies = _int("Replies.")
    reposts = _int("Reposts or shares.")
    quotes = _int("Quotes.")
    impressions = serializers.IntegerField(read_only=True, allow_null=True, help_text="Where the platform gives them.")
    link_clicks = serializers.IntegerField(read_only=True, allow_null=True, help_text="Where the platform gives them.")
    engagements = _int(_d("engagements"))
    followers = serializers.IntegerField(read_only=True, allow_null=True,
                                         help_text="The channel's followers when the post was published.")
    engagement_rate = _float(_d("engagement_rate"))
    rate_method = serializers.CharField(read_only=True, help_text=METHOD)


class BestHourSerializer(serializers.Serializer):
    hour = _int("Publishing hour, 0-23, organisation time.")
    posts = _int("Posts published in that hour.")
    average_rate = _float(_d("best_hours"))


class EngagementSerializer(serializers.Serializer):
    period = PeriodSerializer(read_only=True)
    filters = AppliedFilterSerializer(read_only=True)
    channels = ChannelEngagementSerializer(many=True, read_only=True)
    top_posts = PostRateSerializer(many=True, read_only=True, help_text="The posts with the highest rate.")
    bottom_posts = PostRateSerializer(many=True, read_only=True, help_text="The posts with the lowest rate.")
    best_hours = BestHourSerializer(many=True, read_only=True, help_text=_d("best_hours"))


# ------------------------------------------------------------------------------------------ channel shift
OfflineSerializer = _shape("OfflineContacts", {
    c.value: _int(f"{c.label} contacts recorded for the month.") for c in OFFLINE_CHANNELS
})


class ShiftMonthSerializer(serializers.Serializer):
    month = serializers.DateField(read_only=True, help_text="The month's first day.")
    digital = _int(_d("conversations_opened"))
    offline = OfflineSerializer(read_only=True)
    offline_total = _int("All offline contacts recorded for the month.")
    digital_share = _float(_d("digital_share"))
    alternative_cost = _money("The average offline cost per contact this month, weighted by the offline mix.")
    alternative_basis = serializers.CharField(read_only=True,
                                              help_text='"offline mix", or phone when no offline figures exist.')
    cost_avoided = _money(_d("cost_avoided"))


class UnitCostSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=ContactChannel.choices, read_only=True)
    label = serializers.CharField(read_only=True)
    cost = _money("Cost per contact.")
    source = serializers.CharField(read_only=True, help_text="Where the figure comes from.")
    default = serializers.BooleanField(read_only=True,
                                       help_text="True while the organisation uses Civic Desk's default.")


class ChannelShiftSerializer(serializers.Serializer):
    period = PeriodSerializer(read_only=True)
    filters = AppliedFilterSerializer(read_only=True)
    months = ShiftMonthSerializer(many=True, read_only=True)
    costs = UnitCostSerializer(many=True, read_only=True, help_text="The costs per contact used, with their source.")
    digital = _int(_d("conversations_opened"))
    offline = _int("Offline contacts recorded in the months of the period.")
    digital_share = _float(_d("digital_share"))
    cost_avoided = _money(_d("cost_avoided"))
    ignored_filters = serializers.ListField(
        child=serializers.CharField(), read_only=True,
        help_text="channel and platform do not apply to offline figures (recorded per department): named here "
        "when given.")
