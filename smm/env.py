"""Typed environment variables that fail loudly on bad values (healthchecks' hc/settings.py habit).

Every variable the product reads is declared through these helpers, so README's table of variables
can be checked against the code (tests/smm/test_settings.py).
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

# Names read through this module, in the order they were first declared; the README test reads it.
DECLARED: dict[str, str] = {}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, default: str) -> str:
    DECLARED.setdefault(name, default)
    return os.environ.get(name, default)


def env_str(name: str, default: str = "") -> str:
    return _raw(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name, "1" if default else "0").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), not {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name, str(default)).strip()
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in _raw(name, default).split(",") if item.strip()]
