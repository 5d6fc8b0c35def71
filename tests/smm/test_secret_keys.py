"""SECRET_KEY and AUDIT_CHECKPOINT_KEY (issue 6, docs/audit.md): in production (DEBUG off, not the tests) the
process refuses to start without them in the environment; DEBUG (make run), the tests and LOCAL_KEYS=1 may make
them once in var/. Each case starts a fresh Python that loads the settings, as gunicorn or celery would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY = "k" * 40
LOAD = "import django; django.setup(); from django.conf import settings; print(len(settings.SECRET_KEY), len(settings.AUDIT_CHECKPOINT_KEY))"


def start(tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("DEBUG", "SECRET_KEY", "AUDIT_CHECKPOINT_KEY", "LOCAL_KEYS", "VAR_DIR")}
    environment.update(DJANGO_SETTINGS_MODULE="smm.settings", VAR_DIR=str(tmp_path / "var"), **env)
    return subprocess.run([sys.executable, "-c", LOAD], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "AUDIT_CHECKPOINT_KEY"])
def test_production_refuses_to_start_without_each_key(tmp_path, missing):
    given = {name: KEY for name in ("SECRET_KEY", "AUDIT_CHECKPOINT_KEY") if name != missing}
    result = start(tmp_path, DEBUG="0", **given)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and f"{missing} is not set" in result.stderr
    # No key was made in var/ to paper over it.
    assert not (tmp_path / "var" / "audit_checkpoint_key").exists() and not (tmp_path / "var" / "secret_key").exists()


def test_production_starts_with_both_keys_from_the_environment(tmp_path):
    result = start(tmp_path, DEBUG="0", SECRET_KEY=KEY, AUDIT_CHECKPOINT_KEY=KEY + "x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["40", "41"]
    assert not (tmp_path / "var" / "audit_checkpoint_key").exists() and not (tmp_path / "var" / "secret_key").exists()


def test_a_short_key_is_refused(tmp_path):
    result = start(tmp_path, DEBUG="0", SECRET_KEY=KEY, AUDIT_CHECKPOINT_KEY="short")
    assert result.returncode != 0 and "AUDIT_CHECKPOINT_KEY must be at least 32 characters" in result.stderr


@pytest.mark.parametrize("env", [{"DEBUG": "1"}, {"DEBUG": "0", "LOCAL_KEYS": "1"}])
def test_debug_or_local_keys_make_the_keys_once_in_var(tmp_path, env):
    first = start(tmp_path, **env)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "var" / "secret_key").exists() and (tmp_path / "var" / "audit_checkpoint_key").exists()
    stored = (tmp_path / "var" / "audit_checkpoint_key").read_text()
    assert start(tmp_path, **env).returncode == 0
    assert (tmp_path / "var" / "audit_checkpoint_key").read_text() == stored  # made once, then kept


def test_makemigrations_runs_without_keys_and_makes_none(tmp_path):
    """A code-only command (no signing, no audit) gets a throwaway key in memory; nothing is written to var/."""
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("DEBUG", "SECRET_KEY", "AUDIT_CHECKPOINT_KEY", "LOCAL_KEYS", "VAR_DIR")}
    environment.update(DEBUG="0", VAR_DIR=str(tmp_path / "var"))
    result = subprocess.run([sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"], cwd=ROOT,
                            env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout
    assert not (tmp_path / "var" / "secret_key").exists() and not (tmp_path / "var" / "audit_checkpoint_key").exists()
    # Any other command still refuses.
    refused = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode != 0 and "SECRET_KEY is not set" in refused.stderr


def test_the_tests_run_without_any_key_set(settings):
    # This very process: pytest loaded the settings with nothing set (make test) and got keys.
    assert settings.TESTING and settings.LOCAL_KEYS
    assert len(settings.AUDIT_CHECKPOINT_KEY) >= 32 and len(settings.SECRET_KEY) >= 32
