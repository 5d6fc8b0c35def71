"""Issue 7 §4: /api/v1/kpis/{overview,inbox,engagement,channel-shift}/ give the metrics.kpis figures, scoped to
the member's departments, to admins and managers only; bad parameters are a 400 naming the field."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import yaml
from django.http import QueryDict

from approvals.models import PublishTarget
from inbox.models import Message, MessageDirection
from metrics import kpis, rollups
from metrics.definitions import KPIS
from metrics.models import ChannelSnapshot, OfflineContactVolume, PostPerformance
from tests.approvals_factories import make_post
from tests.inbox_factories import make_channel, make_conversation

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Europe/London = UTC before the clock change
MARCH = "from=2026-03-01&to=2026-03-31"
PATHS = {
    "overview": "/api/v1/kpis/overview/",
    "inbox": "/api/v1/kpis/inbox/",
    "engagement": "/api/v1/kpis/engagement/",
    "channel-shift": "/api/v1/kpis/channel-shift/",
}


def _answer(org, conversation, agent, minutes: int, close_after: timedelta | None = None):
    at = conversation.last_inbound_at + timedelta(minutes=minutes)
    Message.objects.create(organisation=org.organisation, channel=conversation.channel, conversation=conversation,
                           platform_message_id=f"ours-{conversation.pk}", direction=MessageDirection.OUTBOUND,
                           kind="reply", text="On it", sent_by=agent, created_at=at)
    conversation.first_responded_at = at
    if close_after is not None:
        conversation.status, conversation.closed_at = "closed", conversation.last_inbound_at + close_after
    conversation.save()


def _performance(org, post, channel, *, at, likes, impressions=None, followers=None):
    target = PublishTarget.objects.create(organisation=org.organisation, post=post, channel=channel, state="sent",
                                          platform_id=f"p-{channel.pk}-{post.pk}", published_at=at,
                                          platform_url=f"https://example.org/{channel.pk}/{post.pk}")
    rate, method = None, ""
    if impressions:
        rate, method = round(100 * likes / impressions, 2), "impressions"
    elif followers:
        rate, method = round(100 * likes / followers, 2), "followers"
    return PostPerformance.objects.create(
        target=target, organisation=org.organisation, post=post, channel=channel, department=channel.department,
        platform=channel.platform, platform_id=target.platform_id, published_at=at, published_hour=at.hour,
        published_weekday=at.weekday(), likes=likes, engagements=likes, impressions=impressions, followers=followers,
        engagement_rate=rate, rate_method=method)


def build_kpi_data(personas) -> dict:
    """Two departments' channels with answered conversations, snapshots, posts and offline volumes in March 2026."""
    org = personas.a
    agent = org.members["agent"].user
    admin = org.members["admin"].user
    services_channel = make_channel(org, department="Customer Services", platform="x")
    comms_channel = make_channel(org, department="Communications", platform="mastodon")
    for n in range(3):
        conversation = make_conversation(org, channel=services_channel, at=MONDAY_10 + timedelta(days=n))
        _answer(org, conversation, agent, minutes=30 * (n + 1), close_after=timedelta(hours=4))
    conversation = make_conversation(org, channel=comms_channel, at=MONDAY_10 + timedelta(days=7), messages=2)
    _answer(org, conversation, admin, minutes=45)
    rollups.refresh(org.organisation.pk)
    for channel, start, end in ((services_channel, 1000, 1100), (comms_channel, 400, 380)):
        ChannelSnapshot.objects.create(organisation=org.organisation, channel=channel, department=channel.department,
                                       platform=channel.platform, day=date(2026, 3, 1), followers=start)
        ChannelSnapshot.objects.create(organisation=org.organisation, channel=channel, department=channel.department,
                                       platform=channel.platform, day=date(2026, 3, 31), followers=end)
    post = make_post(org, [comms_channel], title="Road closures")
    other = make_post(org, [comms_channel], title="Library hours")
    _performance(org, post, services_channel, at=MONDAY_10 + timedelta(hours=2), likes=30, impressions=1000)
    _performance(org, post, comms_channel, at=MONDAY_10 + timedelta(hours=3), likes=8, followers=400)
    _performance(org, other, comms_channel, at=MONDAY_10 + timedelta(days=1), likes=2, followers=400)
    for department, channel, volume in (("Customer Services", "phone", 100), ("Customer Services", "face_to_face", 20),
                                        ("Communications", "email", 10)):
        OfflineContactVolume.objects.create(organisation=org.organisation, department=org.departments[department],
                                            month=date(2026, 3, 1), channel=channel, volume=volume)
    return {"services": services_channel, "comms": comms_channel}


@pytest.fixture
def data(personas):
    return build_kpi_data(personas)


def _filter(member, query: str = MARCH):
    return kpis.kpi_filter(member, QueryDict(query))


def _get(api_for, member, name: str, query: str = MARCH):
    return api_for(member).get(f"{PATHS[name]}?{query}")


# ------------------------------------------------------------------------------------- the figures
def test_overview_gives_the_kpis_overview_figures(personas, api_for, data):
    admin = personas.a.members["admin"]
    expected = kpis.overview(_filter(admin))

    response = _get(api_for, admin, "overview")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["current"] == expected["current"]
    assert body["previous"] == expected["previous"]
    assert body["change_percent"] == expected["change_percent"]
    assert body["current"]["conversations_opened"] == 4
    assert body["current"]["first_response_p50"] == 52.5 * 60  # 30, 45, 60, 90 minutes
    assert body["period"] == {"from": "2026-03-01", "to": "2026-03-31", "days": 31}
    assert body["previous_period"] == {"from": "2026-01-29", "to": "2026-02-28", "days": 31}
    assert body["filters"] == {"departments": None, "channels": None, "platform": None}


def test_overview_without_comparison_leaves_the_previous_period_out(personas, api_for, data):
    body = _get(api_for, personas.a.members["admin"], "overview", MARCH + "&compare=false").json()

    assert "previous" not in body and "change_percent" not in body
    assert body["current"]["conversations_opened"] == 4


def test_inbox_gives_totals_series_times_and_workload(personas, api_for, data):
    admin = personas.a.members["admin"]
    f = _filter(admin)

    response = _get(api_for, admin, "inbox", MARCH + "&grain=week")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["grain"] == "week"
    assert body["totals"] == kpis.contact_totals(f)
    assert body["totals"]["conversations_opened"] == 4
    by_channel = body["series"]["by_channel"]
    assert [(row["period"], row["channel"], row["conversations_opened"]) for row in by_channel] == [
        (str(row["period"]), row["channel_id"], row["conversations_opened"])
        for row in kpis.contacts_by(f, "channel", "week")]
    assert {row["channel_handle"] for row in by_channel} == {data["services"].handle, data["comms"].handle}
    assert sum(row["conversations_opened"] for row in body["series"]["total"]) == 4
    assert {row["platform"] for row in body["series"]["by_platform"]} == {"x", "mastodon"}
    assert {row["department_name"] for row in body["series"]["by_department"]} == {"Customer Services",
                                                                                  "Communications"}
    overall = kpis.response_times(f)
    assert body["response_times"]["first_response_seconds_p50"] == overall["first_response_seconds_p50"]
    assert body["response_times"]["first_response_sla"] == overall["first_response_sla"]
    per_department = {row["department_name"]: row for row in body["response_times_by_department"]}
    assert per_department["Customer Services"]["first_response_seconds_p50"] == 60 * 60  # 30, 60, 90 minutes
    assert per_department["Communications"]["first_response_seconds_p50"] == 45 * 60
    assert per_department["Customer Services"]["resolution_seconds_p50"] == 4 * 3600
    agents = {row["agent_name"]: row for row in body["response_times_by_agent"]}
    assert agents["Agent"]["conversations"] == 3 and agents["Admin"]["conversations"] == 1
    workload = {row["agent_name"]: row for row in body["workload"]}
    assert workload["Agent"]["replies_sent"] == 3 and workload["Agent"]["first_responses"] == 3
    assert workload["Admin"]["replies_sent"] == 1


def test_engagement_gives_channel_rates_with_their_method_posts_and_hours(personas, api_for, data):
    admin = personas.a.members["admin"]
    f = _filter(admin)

    response = _get(api_for, admin, "engagement")

    assert response.status_code == 200, response.content
    body = response.json()
    channels = {row["channel"]: row for row in body["channels"]}
    for row in kpis.channel_engagement(f):
        assert channels[row["channel_id"]]["engagement_rate"] == row["engagement_rate"]
        assert channels[row["channel_id"]]["rate_method"] == row["rate_method"]
        assert channels[row["channel_id"]]["follower_growth"] == row["follower_growth"]
    assert channels[data["services"].pk]["rate_method"] == "impressions"
    assert channels[data["services"].pk]["engagement_rate"] == 3.0
    assert channels[data["comms"].pk]["rate_method"] == "followers"
    assert channels[data["comms"].pk]["engagement_rate"] == 1.25  # (8 + 2) ÷ (400 + 400)
    assert channels[data["comms"].pk]["follower_growth"] == -20
    assert [post["engagement_rate"] for post in body["top_posts"]] == [3.0, 2.0, 0.5]
    assert [post["engagement_rate"] for post in body["bottom_posts"]] == [0.5, 2.0, 3.0]
    assert body["top_posts"][0]["rate_method"] == "impressions" and body["top_posts"][0]["title"] == "Road closures"
    assert body["best_hours"] == kpis.best_hours(f)


def test_channel_shift_gives_months_shares_costs_and_cost_avoided(personas, api_for, data):
    admin = personas.a.members["admin"]
    expected = kpis.channel_shift(_filter(admin))

    response = _get(api_for, admin, "channel-shift")

    assert response.status_code == 200, response.content
    body = response.json()
    march = body["months"][0]
    assert march["month"] == "2026-03-01"
    assert march["digital"] == 4
    assert march["offline"] == {"phone": 100, "email": 10, "face_to_face": 20, "web_form": 0}
    assert march["digital_share"] == expected["months"][0]["digital_share"] == round(100 * 4 / 134, 1)
    # Offline mix: (100 × 2.83 + 10 × 2.83 + 20 × 8.62) ÷ 130 = 3.7208; 4 × (3.7208 − 0.15) = 14.283 → 14.28
    assert march["alternative_cost"] == "3.72"
    assert Decimal(march["cost_avoided"]) == expected["months"][0]["cost_avoided"] == Decimal("14.28")
    assert Decimal(body["cost_avoided"]) == expected["cost_avoided"]
    costs = {row["channel"]: row for row in body["costs"]}
    assert costs["phone"] == {"channel": "phone", "label": "Phone", "cost": "2.83", "default": True,
                              "source": expected["costs"]["phone"]["source"]}
    assert body["ignored_filters"] == []


def test_channel_shift_names_the_filters_it_cannot_apply(personas, api_for, data):
    body = _get(api_for, personas.a.members["admin"], "channel-shift", MARCH + "&platform=x").json()

    assert body["ignored_filters"] == ["platform"]


# ------------------------------------------------------------------------------------------ scoping
def test_manager_sees_only_their_departments_figures(personas, api_for, data):
    manager = personas.a.members["manager"]  # Communications
    comms = personas.a.departments["Communications"]

    body = _get(api_for, manager, "overview").json()

    assert body["filters"]["departments"] == [comms.pk]
    assert body["current"]["conversations_opened"] == 1
    assert body["current"] == kpis.overview(_filter(manager))["current"]
    inbox = _get(api_for, manager, "inbox").json()
    assert {row["department_name"] for row in inbox["response_times_by_department"]} == {"Communications"}
    shift = _get(api_for, manager, "channel-shift").json()
    assert shift["months"][0]["offline"]["phone"] == 0 and shift["months"][0]["offline"]["email"] == 10


@pytest.mark.parametrize("name", sorted(PATHS))
def test_manager_asking_for_another_department_gets_400_not_its_figures(personas, api_for, data, name):
    services = personas.a.departments["Customer Services"]

    response = _get(api_for, personas.a.members["manager"], name, f"{MARCH}&department={services.pk}")

    assert response.status_code == 400
    assert "department" in response.json()["errors"]
    assert "conversations_opened" not in response.content.decode()


@pytest.mark.parametrize("name", sorted(PATHS))
def test_another_organisations_department_or_channel_is_a_400(personas, api_for, data, name):
    other_department = personas.b.departments["Digital Desk"]
    other_channel = make_channel(personas.b, department="Digital Desk")
    admin = personas.a.members["admin"]

    by_department = _get(api_for, admin, name, f"{MARCH}&department={other_department.pk}")
    by_channel = _get(api_for, admin, name, f"{MARCH}&channel={other_channel.pk}")

    assert by_department.status_code == 400 and "department" in by_department.json()["errors"]
    assert by_channel.status_code == 400 and "channel" in by_channel.json()["errors"]


def test_outsider_sees_only_their_own_organisations_figures(personas, api_for, data):
    body = _get(api_for, personas.outsider, "overview").json()

    assert body["current"]["conversations_opened"] == 0
    assert body["current"]["engagements"] == 0


@pytest.mark.parametrize("role", ["agent", "viewer", "editor", "approver"])
@pytest.mark.parametrize("name", sorted(PATHS))
def test_roles_without_dashboards_get_403(personas, api_for, name, role):
    response = _get(api_for, personas.a.members[role], name)

    assert response.status_code == 403


def test_anonymous_caller_gets_401_or_403(db, client):
    assert client.get(PATHS["overview"]).status_code in (401, 403)


# --------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("query", "field"), [
    ("from=2026-02-30", "from"),
    ("from=2026-03-31&to=2026-03-01", "from"),
    ("preset=fortnight", "preset"),
    ("platform=myspace", "platform"),
    ("department=abc", "department"),
    ("channel=1;DROP", "channel"),
    ("compare=maybe", "compare"),
])
def test_bad_overview_parameters_are_a_400_naming_the_field(personas, api_for, query, field):
    response = _get(api_for, personas.a.members["admin"], "overview", query)

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


def test_bad_grain_and_bad_dates_are_reported_together(personas, api_for):
    response = _get(api_for, personas.a.members["admin"], "inbox", "grain=hour&to=yesterday")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"grain", "to"}


def test_preset_chooses_the_period(personas, api_for):
    body = _get(api_for, personas.a.members["admin"], "overview", "preset=7d&compare=false").json()

    assert body["period"]["days"] == 7


# ------------------------------------------------------------------------------------------ schema
def test_schema_lists_the_four_paths_with_parameters_and_definitions(db, client):
    document = yaml.safe_load(client.get("/api/schema/").content)

    for path in PATHS.values():
        operation = document["paths"][path]
        assert set(operation) == {"get"}, path
        names = {parameter["name"] for parameter in operation["get"]["parameters"]}
        assert {"from", "to", "preset", "department", "channel", "platform"} <= names, path
        assert all(p.get("description") for p in operation["get"]["parameters"]), path
    assert "compare" in {p["name"] for p in document["paths"][PATHS["overview"]]["get"]["parameters"]}
    assert "grain" in {p["name"] for p in document["paths"][PATHS["inbox"]]["get"]["parameters"]}
    headline = document["components"]["schemas"]["Headline"]["properties"]
    assert headline["conversations_opened"]["description"] == KPIS["conversations_opened"].definition
    shift = document["components"]["schemas"]["ChannelShift"]["properties"]
    assert shift["cost_avoided"]["description"] == KPIS["cost_avoided"].definition


# ------------------------------------------------------------------------------------------- speed
def test_overview_runs_a_fixed_number_of_queries(personas, api_for, data, django_assert_max_num_queries):
    api = api_for(personas.a.members["admin"])
    api.get(f"{PATHS['overview']}?{MARCH}")  # warm the token and session lookups

    with django_assert_max_num_queries(40):
        assert api.get(f"{PATHS['overview']}?{MARCH}").status_code == 200
