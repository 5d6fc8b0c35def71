"""Encryption of secrets at rest (platform credentials, pending invitation links) (Fernet, with MultiFernet for key rotation).

Credentials are a small JSON object per channel (tokens, refresh tokens, app passwords). They are
encrypted before they reach the database and decrypted only inside connector calls; nothing else
in the product reads them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialsUnreadable(Exception):
    """No configured key opens these credentials (a key was removed too early)."""


def _local_key() -> str:
    key_file = Path(settings.VAR_DIR) / "credential_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            "CREDENTIAL_KEYS must be Fernet keys (32 url-safe base64 bytes), comma-separated, newest first."
        ) from None


def fernet() -> MultiFernet:
    keys = tuple(settings.CREDENTIAL_KEYS) or (_local_key(),)
    return _fernet(keys)


def encrypt(credentials: dict) -> str:
    return fernet().encrypt(json.dumps(credentials, separators=(",", ":")).encode()).decode()


def decrypt(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnreadable("No configured credential key opens these credentials.") from None


def rotate(token: str) -> str:
    """The same credentials encrypted under the newest key."""
    if not token:
        return token
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable("No configured credential key opens these credentials.") from None
