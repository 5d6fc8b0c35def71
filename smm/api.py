"""The API's shared parts: the organisation-scoped base viewset, keyset paging and JSON errors."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, permissions, viewsets
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.roles import Capability


def membership_of(request):
    """The Membership an API call acts as: the token's organisation, or the session's."""
    auth = getattr(request, "auth", None)
    if auth is not None and hasattr(auth, "membership"):
        return auth.membership
    return getattr(request._request, "membership", None) if hasattr(request, "_request") else None


class IsMember(permissions.BasePermission):
    message = "You are not an active member of an organisation."

    def has_permission(self, request, view):
        membership = membership_of(request)
        if not request.user.is_authenticated or membership is None:
            return False
        if membership.requires_two_factor() and not _verified_with_code(request):
            # A token issued without a one-time code (before the organisation required two-factor, or before
            # the person enrolled) stops working; a new one must be issued with a code.
            self.message = (
                "Your organisation requires two-factor authentication. Enrol in the browser if you have not, "
                "then get a new token with your one-time code (otp)."
            )
            return False
        return True


def _verified_with_code(request) -> bool:
    auth = getattr(request, "auth", None)
    if auth is not None and hasattr(auth, "otp_verified"):
        # An API token: only one issued with a valid one-time code counts.
        return bool(auth.otp_verified)
    # A browser session: django-otp marks it verified once the code step passed.
    is_verified = getattr(request.user, "is_verified", None)
    return bool(is_verified and is_verified())


class OrgScopedViewSet(viewsets.GenericViewSet):
    """Base for every API resource. Subclasses name the model and, per action, the capability needed.

    Reads go through Model.objects.visible_to(membership), so another organisation's object is a 404
    (get_object) before any role check, and a missing role is a 403.
    """

    permission_classes = [IsMember]
    # Action name -> capability; actions not listed need only Capability.VIEW.
    capabilities: dict[str, Capability] = {}
    model = None

    @property
    def membership(self):
        return membership_of(self.request)

    def get_queryset(self):
        return self.model.objects.visible_to(self.membership)

    def options(self, request, *args, **kwargs):
        # OPTIONS on an object route names the object too: another organisation's id is a 404, as for GET.
        if (self.lookup_url_kwarg or self.lookup_field) in self.kwargs:
            self.get_object()
        return super().options(request, *args, **kwargs)

    def check_permissions(self, request):
        super().check_permissions(request)
        needed = self.capabilities.get(self.action, Capability.VIEW)
        if not self.membership.can(needed):
            # Object routes answer 404 for foreign ids before they answer 403 for the role.
            if (self.lookup_url_kwarg or self.lookup_field) in self.kwargs:
                self.get_object()
            raise exceptions.PermissionDenied("Your role does not allow this.")


def exception_handler(exc, context):
    """Every API error is JSON with a `detail` message; field errors name the field."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = exceptions.ValidationError({k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()})
        else:
            exc = exceptions.ValidationError({"detail": " ".join(exc.messages)})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "Your role does not allow this.")
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError) and isinstance(response.data, dict):
        if "detail" not in response.data:
            response.data = {"detail": "Some fields are not valid.", "errors": response.data}
    elif response is not None and isinstance(exc, exceptions.ValidationError) and isinstance(response.data, list):
        response.data = {"detail": " ".join(str(m) for m in response.data)}
    return response
