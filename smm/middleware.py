"""Cross-cutting HTTP middleware: request ids for the audit trail, and the Content-Security-Policy."""

from __future__ import annotations

import re

from django.conf import settings

from audit import context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request) -> str | None:
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        # Behind our own TLS proxy the left-most forwarded address is the client's.
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    """Gives each request an id (or keeps a well-formed X-Request-ID) and exposes it to audit.record."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
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
