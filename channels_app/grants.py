"""Per-channel grants: view, reply, publish.

Defaults come from department membership and role (docs/permissions.md); a person can be given a
grant beyond the defaults on one channel, stored as a django-guardian object permission in the
channel's direct foreign-key table. Effective grants = defaults ∪ explicit grants.
"""

from __future__ import annotations

from accounts.models import Membership
from accounts.roles import Capability
from channels_app.models import Channel, ChannelUserObjectPermission

VIEW, REPLY, PUBLISH = "view_channel", "reply_channel", "publish_channel"
GRANTS = (VIEW, REPLY, PUBLISH)
GRANT_LABELS = {VIEW: "View", REPLY: "Reply", PUBLISH: "Publish"}


def default_grants(membership: Membership, channel: Channel) -> set[str]:
    if not membership.is_active or membership.organisation_id != channel.organisation_id:
        return set()
    if not (membership.sees_all_departments or channel.department_id in membership.department_ids):
        return set()
    grants = {VIEW}
    if membership.can(Capability.WORK_INBOX):
        grants.add(REPLY)
    if membership.can(Capability.EDIT_POSTS) or membership.can(Capability.APPROVE_POSTS):
        grants.add(PUBLISH)
    return grants


def explicit_grants(user_id: int, channel: Channel) -> set[str]:
    return set(
        ChannelUserObjectPermission.objects.filter(user_id=user_id, content_object=channel).values_list(
            "permission__codename", flat=True
        )
    )


def explicit_grants_by_user(channel: Channel) -> dict[int, set[str]]:
    """Every person's explicit grants on one channel, in one query (the grants page)."""
    result: dict[int, set[str]] = {}
    rows = ChannelUserObjectPermission.objects.filter(content_object=channel).values_list("user_id", "permission__codename")
    for user_id, codename in rows:
        result.setdefault(user_id, set()).add(codename)
    return result


def effective_grants(membership: Membership, channel: Channel) -> set[str]:
    if not membership.is_active or membership.organisation_id != channel.organisation_id:
        return set()
    return default_grants(membership, channel) | explicit_grants(membership.user_id, channel)


def has_grant(membership: Membership, channel: Channel, grant: str) -> bool:
    return grant in effective_grants(membership, channel)
