"""Channel pages: the list per department with status, and disconnect."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Membership
from accounts.roles import Capability
from channels_app import grants, services
from channels_app.models import Channel
from smm.scoping import get_visible_or_404, member_required


def _can_manage(membership, channel: Channel) -> bool:
    return membership.can(Capability.MANAGE_CHANNELS) and (
        membership.sees_all_departments or channel.department_id in membership.department_ids
    )


@member_required()
@require_GET
def channel_list(request: HttpRequest) -> HttpResponse:
    channels = list(Channel.objects.visible_to(request.membership).connected().for_list())
    for channel in channels:
        channel.can_manage = _can_manage(request.membership, channel)
    return render(
        request,
        "channels_app/channel_list.html",
        {"channels": channels, "can_connect": request.membership.can(Capability.MANAGE_CHANNELS)},
    )


@member_required(Capability.MANAGE_CHANNELS)
@require_POST
def channel_disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    channel = get_visible_or_404(Channel.objects.connected().select_related("department"), request.membership, pk=pk)
    if not _can_manage(request.membership, channel):
        raise PermissionDenied("You can manage channels only for your own departments.")
    services.channel_disconnect(actor=request.membership, channel=channel)
    messages.success(request, f"{channel} disconnected. Its credentials have been deleted.")
    return redirect("channels_app:channel_list")


@member_required(Capability.MANAGE_CHANNELS)
@require_http_methods(["GET", "POST"])
def channel_grants(request: HttpRequest, pk: int) -> HttpResponse:
    """Who may view, reply from and publish to one channel: role defaults plus per-person grants."""
    channel = get_visible_or_404(Channel.objects.connected().select_related("department"), request.membership, pk=pk)
    if not _can_manage(request.membership, channel):
        raise PermissionDenied("You can manage channels only for your own departments.")
    members = list(Membership.objects.visible_to(request.membership).active().for_member_list())
    explicit_by_user = grants.explicit_grants_by_user(channel)
    if request.method == "POST":
        for member in members:
            explicit = explicit_by_user.get(member.user_id, set())
            for grant in grants.GRANTS:
                wanted = request.POST.get(f"grant-{member.pk}-{grant}") == "on"
                if wanted != (grant in explicit):
                    services.channel_grant_set(
                        actor=request.membership, channel=channel, member=member, grant=grant, allowed=wanted
                    )
        messages.success(request, f"Grants for {channel} saved.")
        return redirect("channels_app:channel_grants", pk=channel.pk)
    rows = [
        {
            "member": member,
            "cells": [
                {
                    "grant": grant,
                    "label": grants.GRANT_LABELS[grant],
                    "default": grant in grants.default_grants(member, channel),
                    "explicit": grant in explicit_by_user.get(member.user_id, set()),
                }
                for grant in grants.GRANTS
            ],
        }
        for member in members
    ]
    return render(request, "channels_app/channel_grants.html", {"channel": channel, "rows": rows, "grant_labels": grants.GRANT_LABELS})
