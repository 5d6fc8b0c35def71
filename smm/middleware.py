"""Cross-cutting HTTP middleware: request ids for the audit trail, and the Content-Security-Policy."""

from __future__ import annotations

import ipaddress
import re

from django.conf import settings

from audit import context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _valid_ip(value: str | None) -> str | None:
    """The address in its canonical form, or None when it is not one (it goes into an inet column)."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if getattr(address, "scope_id", None):
        # "fe80::1%eth0" parses, but PostgreSQL's inet refuses the zone.
        return None
    return str(address)


def client_ip(request) -> str | None:
    """The client's address for the audit trail and lockouts; None rather than anything that is not an address.

    Behind our TLS proxy (BEHIND_TLS_PROXY) the right-most X-Forwarded-For entry is the one our proxy
    appended; everything left of it was sent by the client and can say anything.
    """
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            address = _valid_ip(forwarded.split(",")[-1])
            if address:
                return address
    return _valid_ip(request.META.get("REMOTE_ADDR"))


class RequestContextMiddleware:
    """Gives each request an id (or keeps a well-formed X-Request-ID) and exposes it to audit.record."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.META.get("REMOTE_ADDR") and _valid_ip(request.META["REMOTE_ADDR"]) is None:
            # Not an address (a misconfigured server or proxy): nothing downstream (django-axes's
            # access log, our audit) may try to store it in an inet column.
            del request.META["REMOTE_ADDR"]
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else context.new_request_id()
        ctx = context.ActionContext(
            request_id=request.request_id,
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:300],
        )
        with context.acting(ctx):
            response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class ContentSecurityPolicyMiddleware:
    """Scripts and styles only from our own origin; no framing; no plugins."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        return response
