"""The one scoping mechanism: every tenant-owned model's manager is built from OrgScopedQuerySet.

`Model.objects.visible_to(membership)` is the only way views, API viewsets and tasks read tenant
data for a person. It fails closed: no membership, an inactive one, or a membership of another
organisation yields nothing, never everything (NetBox's RestrictedQuerySet.restrict).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404

if TYPE_CHECKING:
    from accounts.models import Membership
    from accounts.roles import Capability


class OrgScopedQuerySet(models.QuerySet):
    # Path from the model to its Organisation, e.g. "organisation" or "channel__organisation".
    organisation_path: str = "organisation"
    # Path to the Department that limits non-admin members, or None when the whole organisation sees it.
    department_path: str | None = None

    def for_organisation(self, organisation: Any) -> OrgScopedQuerySet:
        if organisation is None:
            return self.none()
        return self.filter(**{self.organisation_path: organisation})

    def visible_to(self, membership: Membership | None) -> OrgScopedQuerySet:
        if membership is None or not membership.is_active or membership.pk is None:
            return self.none()
        qs = self.for_organisation(membership.organisation_id)
        if self.department_path is not None and not membership.sees_all_departments:
            qs = qs.filter(**{f"{self.department_path}__in": membership.department_ids})
        return qs


def get_visible_or_404(
    queryset: models.QuerySet, membership: Membership | None, capability: Capability | None = None, **lookup: Any
) -> Any:
    """One object for one member: 404 when it is missing or not theirs, 403 when their role lacks the capability.

    The 404 comes first and is the same for "does not exist" and "belongs to someone else", so the
    answer tells an outsider nothing.
    """
    scoped = queryset.visible_to(membership) if hasattr(queryset, "visible_to") else queryset.none()
    try:
        obj = scoped.get(**lookup)
    except (scoped.model.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None
    if capability is not None and not membership.can(capability):
        raise PermissionDenied("Your role does not allow this.")
    return obj


def require_capability(membership: Membership | None, capability: Capability) -> None:
    if membership is None or not membership.can(capability):
        raise PermissionDenied("Your role does not allow this.")


def member_required(capability: Capability | None = None):
    """For HTML views: signed in and acting in an organisation, and (optionally) holding a capability."""
    from functools import wraps

    from django.contrib.auth.views import redirect_to_login

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            membership = getattr(request, "membership", None)
            if membership is None:
                return redirect_to_login(request.get_full_path())
            if capability is not None and not membership.can(capability):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
