"""Organisations (tenants), departments, users, memberships, invitations and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from functools import cached_property
from zoneinfo import available_timezones

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from accounts.roles import ORGANISATION_WIDE_ROLES, PRIVILEGED_ROLES, Capability, Role, role_can
from smm.scoping import OrgScopedQuerySet


def timezone_choices() -> list[tuple[str, str]]:
    """For form widgets only: the list comes from this machine's tzdata, so it never goes into a migration."""
    return sorted((tz, tz) for tz in available_timezones())


def validate_timezone(value: str) -> None:
    # A validator rather than `choices`: choices are frozen into migrations and drift with each machine's tzdata.
    if value not in available_timezones():
        raise ValidationError("Choose a time zone from the list, for example Europe/London.", code="invalid_timezone")


def token_digest(raw: str) -> str:
    """Secrets (API tokens, invitation links) are stored only as their SHA-256 digest."""
    return hashlib.sha256(raw.encode()).hexdigest()


class TwoFactorPolicy(models.TextChoices):
    OPTIONAL = "optional", "Optional for everyone"
    PRIVILEGED = "privileged", "Required for admins and approvers"
    EVERYONE = "everyone", "Required for everyone"


class Organisation(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(max_length=64, validators=[validate_timezone], default="Europe/London")
    # Security policy, edited by admins on the organisation security settings page.
    two_factor_policy = models.CharField(
        max_length=20, choices=TwoFactorPolicy.choices, default=TwoFactorPolicy.OPTIONAL
    )
    idle_timeout_minutes = models.PositiveIntegerField(default=30)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                name="organisation_idle_timeout_range",
                condition=Q(idle_timeout_minutes__gte=5) & Q(idle_timeout_minutes__lte=720),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def requires_two_factor(self, role: str) -> bool:
        if self.two_factor_policy == TwoFactorPolicy.EVERYONE:
            return True
        if self.two_factor_policy == TwoFactorPolicy.PRIVILEGED:
            return Role(role) in PRIVILEGED_ROLES
        return False


class DepartmentQuerySet(OrgScopedQuerySet):
    # Department names are not confidential: every member sees the organisation's list.
    department_path = None

    def active(self) -> DepartmentQuerySet:
        return self.filter(archived_at__isnull=True)


class Department(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="departments")
    name = models.CharField(max_length=120)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    objects = DepartmentQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            # Two live departments of one organisation cannot share a name (case-insensitive).
            models.UniqueConstraint(
                models.functions.Lower("name"),
                "organisation",
                condition=Q(archived_at__isnull=True),
                name="department_unique_live_name_per_org",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username: str):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Sign-in is by e-mail; what they may do depends on their Membership in each organisation."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def label(self) -> str:
        """The frozen label the audit trail keeps for this person."""
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email


class MembershipQuerySet(OrgScopedQuerySet):
    department_path = None

    def active(self) -> MembershipQuerySet:
        return self.filter(is_active=True, organisation__isnull=False)

    def for_member_list(self) -> MembershipQuerySet:
        return self.select_related("user").prefetch_related("departments").order_by("user__email")


class Membership(models.Model):
    """A user's place in one organisation: their role and the departments they work in."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    departments = models.ManyToManyField(Department, blank=True, related_name="members")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["organisation__name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="membership_unique_user_org"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"

    def can(self, capability: Capability) -> bool:
        return self.is_active and role_can(self.role, capability)

    @property
    def sees_all_departments(self) -> bool:
        return Role(self.role) in ORGANISATION_WIDE_ROLES

    @cached_property
    def department_ids(self) -> list[int]:
        # all() uses prefetch_related("departments") when the list query did it: no query per member.
        return [department.pk for department in self.departments.all()]

    def requires_two_factor(self) -> bool:
        return self.organisation.requires_two_factor(self.role)


class InvitationQuerySet(OrgScopedQuerySet):
    def pending(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now())


class Invitation(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices)
    departments = models.ManyToManyField(Department, blank=True, related_name="+")
    token_digest = models.CharField(max_length=64, unique=True)
    # The raw link token, encrypted (smm.crypto), so the e-mail task can build the link from ids alone.
    # Wiped when the invitation is accepted, revoked or superseded.
    token_encrypted = models.TextField(blank=True, default="")
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one open (neither accepted nor revoked, expired or not) invitation per address and
            # organisation: invitation_create revokes the earlier one, and two concurrent invites cannot both win.
            models.UniqueConstraint(
                models.functions.Lower("email"),
                "organisation",
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_unique_open_per_email_org",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation for {self.email}"

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(32)

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= now():
            return "expired"
        return "pending"


class ApiTokenQuerySet(OrgScopedQuerySet):
    pass


class ApiToken(models.Model):
    """A bearer token for one user acting in one organisation. Only its digest is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    # True only when the token was issued with a valid one-time code; an organisation that requires
    # two-factor refuses tokens without it (smm.api.IsMember).
    otp_verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"API token of {self.user} in {self.organisation}"


class UserSession(models.Model):
    """Which session keys belong to which user, so deactivation can end them at once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="session_records")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"Session of {self.user}"


class NotificationQuerySet(OrgScopedQuerySet):
    def for_user(self, user) -> NotificationQuerySet:
        return self.filter(user=user).order_by("-created_at", "-id")

    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """An in-app notice for one person in one organisation (an @mention, a reply or post waiting for them).

    Any app writes these (inbox, approvals); `link` is the path of what it is about, so this model
    depends on none of them.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=300)
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=now)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["user", "read_at"], name="notice_user_unread_idx")]

    def __str__(self) -> str:
        return self.text
