"""Re-encrypts all channel credentials under the first key of CREDENTIAL_KEYS.

Rotation: generate a key (`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`),
put it first in CREDENTIAL_KEYS keeping the old ones after it, restart, run this command, then drop the old keys.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.context import ActionContext, acting
from channels_app import services
from smm import crypto


class Command(BaseCommand):
    help = "Re-encrypt every channel's credentials under the newest CREDENTIAL_KEYS key."

    def handle(self, *args, **options):
        try:
            with acting(ActionContext(system_actor="system: rotate_credential_keys")):
                count = services.credentials_reencrypt()
        except crypto.CredentialsUnreadable as exc:
            raise CommandError(f"{exc} Put the old key back after the new one and run this again.") from None
        self.stdout.write(f"Re-encrypted the credentials of {count} channel(s) under the newest key.")
