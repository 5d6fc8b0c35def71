"""Creates the demo organisations, one user per role in each, and their channels on the simulator. Safe to run again: it adds only what is missing."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import Department, Membership, Organisation, TwoFactorPolicy, User
from accounts.roles import Role
from audit.context import ActionContext, acting
from channels_app.demo import connect_demo_channels

DEMO = [
    {
        "name": "Demo Council",
        "slug": "demo-council",
        "domain": "council.example",
        "policy": TwoFactorPolicy.OPTIONAL,
        "departments": ["Communications", "Customer Services", "Waste & Recycling"],
        "roles": {
            Role.ADMIN: [],
            Role.MANAGER: ["Communications", "Customer Services"],
            Role.APPROVER: ["Communications"],
            Role.EDITOR: ["Communications"],
            # Communications too: the demo channels are there (channels_app.demo), so the agent's inbox fills.
            Role.AGENT: ["Communications", "Customer Services", "Waste & Recycling"],
            Role.VIEWER: ["Communications"],
        },
    },
    {
        "name": "Demo Police",
        "slug": "demo-police",
        "domain": "police.example",
        # Two-factor is required for admins (and approvers, who can send posts out in the force's name).
        "policy": TwoFactorPolicy.PRIVILEGED,
        "departments": ["Corporate Communications", "Digital Desk"],
        "roles": {
            Role.ADMIN: [],
            Role.MANAGER: ["Corporate Communications", "Digital Desk"],
            Role.APPROVER: ["Corporate Communications"],
            Role.EDITOR: ["Corporate Communications"],
            Role.AGENT: ["Corporate Communications", "Digital Desk"],
            Role.VIEWER: ["Digital Desk"],
        },
    },
]


class Command(BaseCommand):
    help = "Create the demo organisations, departments and users (idempotent)."

    def handle(self, *args, **options):
        password = settings.DEMO_PASSWORD
        lines: list[str] = []
        secrets_out: list[str] = []
        with acting(ActionContext(system_actor="system: seed_demo")):
            for spec in DEMO:
                organisation = Organisation.objects.filter(slug=spec["slug"]).first()
                if organisation is None:
                    organisation = services.organisation_create(
                        name=spec["name"],
                        slug=spec["slug"],
                        two_factor_policy=spec["policy"],
                        department_names=spec["departments"],
                    )
                for role, department_names in spec["roles"].items():
                    email = f"{role.value}@{spec['domain']}"
                    with transaction.atomic():
                        user = User.objects.filter(email__iexact=email).first()
                        if user is None:
                            user = User.objects.create_user(
                                email, password, full_name=f"Demo {role.label} ({spec['name']})"
                            )
                        if not Membership.objects.filter(user=user, organisation=organisation).exists():
                            departments = Department.objects.filter(
                                organisation=organisation, name__in=department_names
                            )
                            services.member_add(organisation=organisation, user=user, role=role, departments=departments)
                    lines.append(f"  {email:<28} {role.label:<9} {spec['name']}")
                    if organisation.requires_two_factor(role):
                        device = services.confirmed_totp(user)
                        if device is None:
                            with transaction.atomic():
                                device = TOTPDevice.objects.create(user=user, name="Demo authenticator", confirmed=True)
                        secrets_out.append(f"  {email:<28} {services.totp_secret(device)}")
        self.stdout.write("Demo sign-ins:")
        self.stdout.write("\n".join(lines))
        # The value itself, so the sign-ins printed by `make run` are complete (DEMO_PASSWORD changes it).
        self.stdout.write(f"Password of every demo user: {password}")
        if secrets_out:
            self.stdout.write("Two-factor secrets (add to an authenticator app, or: oathtool --totp -b SECRET):")
            self.stdout.write("\n".join(secrets_out))
        with acting(ActionContext(system_actor="system: seed_demo")):
            channels = connect_demo_channels()
        if channels:
            self.stdout.write("Demo channels (on the platform simulator):")
            self.stdout.write("\n".join(channels))
