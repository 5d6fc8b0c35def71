"""Pages that belong to no single app: the home page, health check and error pages."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from kombu import Connection

from smm.scoping import member_required


@member_required()
def home(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    return render(
        request,
        "home.html",
        {
            "departments": membership.departments.filter(archived_at__isnull=True).order_by("name"),
            "two_factor_required": membership.requires_two_factor(),
        },
    )


def _database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down"; the message says why
        return f"error: {exc.__class__.__name__}"
    return "ok"


def _broker_status() -> str:
    try:
        with Connection(
            settings.CELERY_BROKER_URL, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS, connect_timeout=2
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_status(), "broker": _broker_status()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)


def error_403(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Your role does not allow this."}, status=403)
    return render(request, "errors/403.html", status=403)


def error_404(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "errors/404.html", status=404)


def error_500(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Something went wrong on our side. It has been logged."}, status=500)
    return render(request, "errors/500.html", status=500)


def error_400(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return render(request, "errors/400.html", status=400)


def csrf_failure(request, reason=""):
    return render(request, "errors/csrf.html", status=403)
