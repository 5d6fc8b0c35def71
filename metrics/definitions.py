"""Every KPI's name and definition, in one place: the dashboards show them beside the figures, the API's
schema describes its fields with them, and docs/kpis.md is checked against them (tests/metrics).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    definition: str
    unit: str = ""  # "", "seconds", "percent", "currency"


KPIS: dict[str, Kpi] = {kpi.key: kpi for kpi in [
    Kpi("inbound_messages", "Inbound messages",
        "Messages from the public (mentions, comments, replies and direct messages) received on the organisation's "
        "channels, counted on the day the platform says they were written (organisation time)."),
    Kpi("conversations_opened", "Contacts (conversations opened)",
        "Conversations whose first message from the public was written in the period: one contact is one "
        "conversation, however many messages it holds."),
    Kpi("conversations_closed", "Conversations closed",
        "Conversations closed in the period and still closed now (a reopened conversation counts when it "
        "closes again)."),
    Kpi("outbound_messages", "Replies sent",
        "Replies that reached the platform, including automatic out-of-hours replies, on the day they were sent."),
    Kpi("automatic_replies", "Automatic replies", "Out-of-hours automatic replies sent (part of replies sent)."),
    Kpi("first_response_time", "First-response time",
        "From the public's first message in a conversation to the first reply a person sent, for conversations "
        "opened in the period. Median (half were answered faster) and 90th percentile (nine in ten were "
        "answered faster). In clock hours and in office hours (only the department's opening hours count, "
        "bank holidays excluded).", "seconds"),
    Kpi("resolution_time", "Resolution time",
        "From the public's first message to the conversation's closing, for conversations opened in the period "
        "and closed now. Median and 90th percentile, clock and office hours.", "seconds"),
    Kpi("first_response_sla", "First-response target met",
        "Of the conversations opened in the period whose first-response due time has passed or which were "
        "answered, the share answered by the due time (the department's first-response target counted in "
        "office hours from the first message).", "percent"),
    Kpi("resolution_sla", "Resolution target met",
        "Of the conversations opened in the period whose resolution due time has passed or which were closed, "
        "the share closed by the due time.", "percent"),
    Kpi("agent_replies", "Replies per agent",
        "Replies a person sent in the period, and the conversations they replied to (counted once per day)."),
    Kpi("posts", "Posts published",
        "Posts published in the period, counted once per channel (one post on X and Facebook counts twice); "
        "from the engagement figures collected after publishing."),
    Kpi("engagements", "Engagements",
        "Likes, replies, reposts or shares, quotes, and link clicks where the platform reports them, on the "
        "organisation's posts published in the period (latest figures, collected for 30 days after publishing)."),
    Kpi("engagement_rate", "Engagement rate",
        "Engagements ÷ impressions where the platform gives impressions (X, Facebook, Instagram); otherwise "
        "engagements ÷ the channel's followers when the post was published (Mastodon, Bluesky). The method is "
        "shown beside each figure: the two are not comparable. For a channel: the sum of its posts' "
        "engagements ÷ the sum of their impressions (or followers).", "percent"),
    Kpi("follower_growth", "Follower growth",
        "Followers on the last daily snapshot of the period minus the first (net), and that change as a "
        "percentage of the first."),
    Kpi("best_hours", "Best hours to post",
        "The average engagement rate of the organisation's posts by the hour (organisation time) they were "
        "published, for hours with at least one post in the period."),
    Kpi("digital_share", "Digital share",
        "Contacts in Civic Desk (conversations opened) ÷ all contacts (those plus the offline contacts the "
        "organisation recorded for phone, e-mail, face to face and web forms) in the same months and "
        "departments.", "percent"),
    Kpi("cost_avoided", "Estimated cost avoided",
        "For each month: contacts in Civic Desk × (the average offline cost per contact, weighted by that month's "
        "offline mix, − the cost per social media contact). A month without offline figures uses the phone cost. "
        "Costs per contact are the organisation's own, or the defaults with their source named.", "currency"),
]}


def definition(key: str) -> str:
    return KPIS[key].definition
