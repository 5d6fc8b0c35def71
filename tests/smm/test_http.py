"""Health check and the security headers every response carries."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_is_503_naming_the_broker_when_it_is_down(client, settings):
    # Nothing listens on port 1: the broker is down as far as the app can tell.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("error")
    assert body["status"] == "error"


@pytest.mark.django_db
def test_pages_carry_csp_frame_denial_nosniff_and_a_request_id(client):
    response = client.get("/accounts/sign-in/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert len(response["X-Request-ID"]) >= 16


@pytest.mark.django_db
def test_https_responses_send_hsts(client):
    response = client.get("/accounts/sign-in/", secure=True)
    assert "max-age=31536000" in response["Strict-Transport-Security"]


@pytest.mark.django_db
def test_forms_are_csrf_protected(personas):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/accounts/sign-in/", {"email": "admin@alpha.example", "password": "x"})
    assert response.status_code == 403
    assert b"Your form expired" in response.content


@pytest.mark.django_db
def test_unknown_page_is_a_friendly_404_and_api_404_is_json(client):
    assert b"Page not found" in client.get("/no-such-page/").content
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
