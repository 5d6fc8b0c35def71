from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from smm import env

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_documents_every_environment_variable_the_settings_read():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", README.read_text().split("## Settings", 1)[1]))
    missing = sorted(set(env.DECLARED) - documented)
    assert not missing, f"add these to README's settings table: {missing}"


def test_bad_boolean_stops_with_the_variable_named(monkeypatch):
    monkeypatch.setenv("CD_TEST_FLAG", "perhaps")
    with pytest.raises(ImproperlyConfigured, match="CD_TEST_FLAG"):
        env.env_bool("CD_TEST_FLAG", False)


def test_bad_number_and_too_small_number_stop(monkeypatch):
    monkeypatch.setenv("CD_TEST_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env.env_int("CD_TEST_NUMBER", 1)
    monkeypatch.setenv("CD_TEST_NUMBER", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env.env_int("CD_TEST_NUMBER", 5, minimum=1)


def test_typed_values_are_parsed(monkeypatch):
    monkeypatch.setenv("CD_TEST_FLAG", "Yes")
    monkeypatch.setenv("CD_TEST_LIST", " a.example, b.example ,,")
    assert env.env_bool("CD_TEST_FLAG", False) is True
    assert env.env_list("CD_TEST_LIST") == ["a.example", "b.example"]


def test_production_defaults_are_secure(settings):
    # The test run has DEBUG off, as production does.
    assert settings.DEBUG is False
    assert settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE and settings.SESSION_COOKIE_HTTPONLY
    assert settings.SECURE_HSTS_SECONDS >= 31536000
    assert settings.X_FRAME_OPTIONS == "DENY"
    assert settings.SECURE_CONTENT_TYPE_NOSNIFF
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    validators = {v["NAME"].rsplit(".", 1)[1]: v.get("OPTIONS", {}) for v in settings.AUTH_PASSWORD_VALIDATORS}
    assert validators["MinimumLengthValidator"] == {"min_length": 12}
    assert "CommonPasswordValidator" in validators
