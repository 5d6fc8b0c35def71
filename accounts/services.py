"""Every write to accounts: one transaction, one audit event, side effects queued on commit.

Functions take keyword arguments; `actor` is the Membership of the person acting (its organisation
is the one being changed), so no service can touch another organisation's rows.
"""

from __future__ import annotations

import secrets
from base64 import b32encode
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import (
    ApiToken,
    Department,
    Invitation,
    Membership,
    Organisation,
    User,
    UserSession,
    token_digest,
)
from accounts.roles import Capability, Role
from audit.models import EventType
from audit.services import diff, record
from smm import crypto

BACKUP_CODE_COUNT = 10


# ---------------------------------------------------------------------------------------------- helpers
def _require(actor: Membership, capability: Capability) -> None:
    if actor is None or not actor.can(capability):
        raise PermissionDenied("Your role does not allow this.")


def _same_organisation(actor: Membership, obj) -> None:
    # Services are called with objects already fetched through visible_to(); this is the last line.
    if obj.organisation_id != actor.organisation_id:
        raise PermissionDenied("That belongs to another organisation.")


def _organisations_of(user: User) -> list[Organisation]:
    return [m.organisation for m in Membership.objects.active().filter(user=user).select_related("organisation")]


def _record_for_user(
    user: User | None,
    event_type: EventType,
    *,
    actor: User | None = None,
    also: Organisation | None = None,
    **kwargs,
) -> None:
    """Events about a person rather than an organisation go to every organisation they belong to
    (and to `also`, the organisation acting, even when the person's membership there is inactive)."""
    organisations = _organisations_of(user) if user is not None else []
    if also is not None and all(o.pk != also.pk for o in organisations):
        organisations.append(also)
    for organisation in organisations or [None]:
        record(organisation=organisation, event_type=event_type, actor=actor, **kwargs)


def _active_elsewhere(user: User, organisation_id: int) -> bool:
    """Whether the person is an active member of an organisation other than this one."""
    return Membership.objects.active().filter(user=user).exclude(organisation_id=organisation_id).exists()


def _clean_departments(organisation_id: int, departments, keep: frozenset[int] = frozenset()) -> list[Department]:
    """New choices must be live departments of the organisation; archived ones in `keep` (held already) stay."""
    chosen = list(departments or [])
    for department in chosen:
        if department.organisation_id != organisation_id or (department.is_archived and department.pk not in keep):
            raise ValidationError({"departments": "Choose departments of this organisation that are not archived."})
    return chosen


def _department_names(departments) -> list[str]:
    return sorted(d.name for d in departments)


# ------------------------------------------------------------------------------------------ organisation
def organisation_update_settings(*, actor: Membership, data: dict) -> Organisation:
    _require(actor, Capability.MANAGE_ORGANISATION)
    allowed = {"name", "timezone", "two_factor_policy", "idle_timeout_minutes"}
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError({field: "This setting cannot be changed here." for field in unknown})
    with transaction.atomic():
        organisation = Organisation.objects.select_for_update().get(pk=actor.organisation_id)
        before = {field: getattr(organisation, field) for field in data}
        for field, value in data.items():
            setattr(organisation, field, value)
        organisation.full_clean()
        changes = diff(before, data)
        if changes:
            organisation.save(update_fields=list(changes))
            record(
                organisation=organisation,
                event_type=EventType.ORGANISATION_SETTINGS_CHANGED,
                actor=actor.user,
                target=organisation,
                changes=changes,
            )
    return organisation


# ------------------------------------------------------------------------------------------- departments
def department_create(*, actor: Membership, name: str) -> Department:
    _require(actor, Capability.MANAGE_DEPARTMENTS)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Enter a name."})
    department = Department(organisation_id=actor.organisation_id, name=name)
    department.full_clean(exclude=["organisation"])
    try:
        with transaction.atomic():
            department.save()
            record(
                organisation=actor.organisation,
                department=department,
                event_type=EventType.DEPARTMENT_CREATED,
                actor=actor.user,
                target=department,
                changes={"name": {"from": None, "to": name}},
            )
    except IntegrityError:
        raise ValidationError({"name": "A department with this name already exists."}) from None
    return department


def department_rename(*, actor: Membership, department: Department, name: str) -> Department:
    _require(actor, Capability.MANAGE_DEPARTMENTS)
    _same_organisation(actor, department)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Enter a name."})
    if name == department.name:
        return department
    try:
        with transaction.atomic():
            old = department.name
            department.name = name
            department.full_clean(exclude=["organisation"])
            department.save(update_fields=["name"])
            record(
                organisation=actor.organisation,
                department=department,
                event_type=EventType.DEPARTMENT_RENAMED,
                actor=actor.user,
                target=department,
                changes={"name": {"from": old, "to": name}},
            )
    except IntegrityError:
        department.refresh_from_db()
        raise ValidationError({"name": "A department with this name already exists."}) from None
    return department


def department_set_archived(*, actor: Membership, department: Department, archived: bool) -> Department:
    _require(actor, Capability.MANAGE_DEPARTMENTS)
    _same_organisation(actor, department)
    with transaction.atomic():
        # Compare-and-set: only a live department can be archived, only an archived one restored.
        now = timezone.now() if archived else None
        try:
            with transaction.atomic():
                rows = Department.objects.filter(pk=department.pk, archived_at__isnull=archived).update(archived_at=now)
        except IntegrityError:
            # Restoring, but a live department has taken the name meanwhile.
            raise ValidationError({"name": "A live department has this name: rename one of them first."}) from None
        if rows != 1:
            department.refresh_from_db()
            return department
        department.refresh_from_db()
        record(
            organisation=actor.organisation,
            department=department,
            event_type=EventType.DEPARTMENT_ARCHIVED if archived else EventType.DEPARTMENT_RESTORED,
            actor=actor.user,
            target=department,
            changes={"archived": {"from": not archived, "to": archived}},
        )
    return department


# ------------------------------------------------------------------------------------------- invitations
def invitation_accept_url(raw_token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("accounts:invitation_accept", args=[raw_token])


def invitation_create(*, actor: Membership, email: str, role: str, departments) -> tuple[Invitation, str]:
    """Returns the invitation and its raw token; only the digest is stored, the token goes by e-mail."""
    from accounts.tasks import send_invitation_email

    _require(actor, Capability.MANAGE_MEMBERS)
    email = User.objects.normalize_email((email or "").strip()).lower()
    errors = {}
    if not email:
        errors["email"] = "Enter an e-mail address."
    if role not in Role.values:
        errors["role"] = "Choose a role."
    if errors:
        raise ValidationError(errors)
    departments = _clean_departments(actor.organisation_id, departments)
    if Membership.objects.filter(organisation_id=actor.organisation_id, user__email__iexact=email).exists():
        raise ValidationError({"email": "This person is already a member of the organisation."})
    raw_token = Invitation.new_token()
    try:
        with transaction.atomic():
            # A new invitation replaces every earlier open one for the same address, expired or not
            # (the constraint invitation_unique_open_per_email_org allows only one).
            superseded = list(
                Invitation.objects.select_for_update()
                .filter(
                    organisation_id=actor.organisation_id,
                    email__iexact=email,
                    accepted_at__isnull=True,
                    revoked_at__isnull=True,
                )
                .order_by("pk")
            )
            now = timezone.now()
            replaced = [old.pk for old in superseded]
            Invitation.objects.filter(pk__in=replaced).update(revoked_at=now, token_encrypted="")
            invitation = Invitation.objects.create(
                organisation_id=actor.organisation_id,
                email=email,
                role=role,
                token_digest=token_digest(raw_token),
                token_encrypted=crypto.encrypt({"token": raw_token}),
                invited_by=actor.user,
                expires_at=now + settings.INVITATION_TTL,
            )
            invitation.departments.set(departments)
            record(
                organisation=actor.organisation,
                event_type=EventType.INVITATION_SENT,
                actor=actor.user,
                target=invitation,
                target_repr=email,
                # One action, one event (issue 6 §1): the earlier open invitations it revoked are named here.
                changes={"email": email, "role": role, "departments": _department_names(departments),
                         **({"replaced_invitations": replaced} if replaced else {})},
            )
            # Only ids travel through the broker; the task decrypts the link itself.
            invitation_id, organisation_id = invitation.pk, actor.organisation_id
            transaction.on_commit(lambda: send_invitation_email.delay(invitation_id, organisation_id))
    except IntegrityError:
        # Another admin invited the same address at the same moment, and theirs was saved first.
        raise ValidationError(
            {"email": "An invitation to this address was sent at the same moment. Check the pending invitations."}
        ) from None
    return invitation, raw_token


def invitation_email_send(*, invitation_id: int, organisation_id: int) -> bool:
    """Sends the invitation e-mail with its link, if the invitation is still pending. Returns whether it sent."""
    from django.core.mail import send_mail
    from django.template.loader import render_to_string

    invitation = (
        Invitation.objects.pending()
        .select_related("organisation", "invited_by")
        .filter(pk=invitation_id, organisation_id=organisation_id)
        .first()
    )
    if invitation is None or not invitation.token_encrypted:
        return False
    try:
        raw_token = crypto.decrypt(invitation.token_encrypted).get("token", "")
    except crypto.CredentialsUnreadable:
        # The key was removed; no retry can help. The admin can send a new invitation.
        return False
    if not raw_token or token_digest(raw_token) != invitation.token_digest:
        return False
    context = {"invitation": invitation, "accept_url": invitation_accept_url(raw_token)}
    send_mail(
        subject=f"You are invited to join {invitation.organisation.name} on Civic Desk",
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )
    return True


def invitation_revoke(*, actor: Membership, invitation: Invitation) -> Invitation:
    _require(actor, Capability.MANAGE_MEMBERS)
    _same_organisation(actor, invitation)
    with transaction.atomic():
        rows = Invitation.objects.pending().filter(pk=invitation.pk).update(revoked_at=timezone.now(), token_encrypted="")
        invitation.refresh_from_db()
        if rows == 1:
            record(
                organisation=actor.organisation,
                event_type=EventType.INVITATION_REVOKED,
                actor=actor.user,
                target=invitation,
                target_repr=invitation.email,
            )
    return invitation


def invitation_for_token(raw_token: str) -> Invitation | None:
    """The pending invitation a link names, or None when it is unknown, used, revoked or expired."""
    if not raw_token or len(raw_token) > 100:
        return None
    return (
        Invitation.objects.pending()
        .select_related("organisation")
        .filter(token_digest=token_digest(raw_token))
        .first()
    )


def invitation_accept(
    *, raw_token: str, user: User | None = None, full_name: str = "", password: str = ""
) -> Membership:
    """Accept an invitation once. A new person sets a name and password; a signed-in person joins as themself."""
    invitation = invitation_for_token(raw_token)
    if invitation is None:
        raise ValidationError("This invitation link has expired or has already been used.")
    if user is not None and user.email.lower() != invitation.email.lower():
        raise ValidationError("This invitation was sent to another e-mail address.")
    if user is None and User.objects.filter(email__iexact=invitation.email).exists():
        raise ValidationError("An account with this e-mail address exists: sign in first, then open the link again.")
    if user is None:
        new_user = User(email=invitation.email, full_name=(full_name or "").strip())
        errors = {}
        if not new_user.full_name:
            errors["full_name"] = "Enter your name."
        try:
            password_validation.validate_password(password, new_user)
        except ValidationError as exc:
            errors["password"] = exc.messages
        if errors:
            raise ValidationError(errors)
    try:
        with transaction.atomic():
            # Single use: only one request can move the invitation from pending to accepted.
            claimed = (
                Invitation.objects.pending()
                .filter(pk=invitation.pk)
                .update(accepted_at=timezone.now(), token_encrypted="")
            )
            if claimed != 1:
                raise ValidationError("This invitation link has expired or has already been used.")
            if user is None:
                new_user.set_password(password)
                new_user.save()
                user = new_user
            membership, _ = Membership.objects.update_or_create(
                user=user,
                organisation_id=invitation.organisation_id,
                defaults={"role": invitation.role, "is_active": True, "deactivated_at": None},
            )
            departments = list(invitation.departments.all())
            membership.departments.set(departments)
            Invitation.objects.filter(pk=invitation.pk).update(accepted_by=user)
            record(
                organisation=invitation.organisation,
                event_type=EventType.INVITATION_ACCEPTED,
                actor=user,
                target=membership,
                target_repr=user.label,
                changes={"role": invitation.role, "departments": _department_names(departments)},
            )
    except IntegrityError:
        # The account (or the membership) was created by another request at the same moment.
        raise ValidationError(
            "An account with this e-mail address was created at the same moment: sign in, then open the link again."
        ) from None
    return membership


# ----------------------------------------------------------------------------------------------- members
def _active_admin_count(organisation_id: int) -> int:
    # Locks the organisation row until commit, so two admins removing each other at once are counted in turn.
    Organisation.objects.select_for_update().filter(pk=organisation_id).values_list("pk", flat=True).first()
    return Membership.objects.filter(organisation_id=organisation_id, role=Role.ADMIN, is_active=True).count()


def member_update(
    *, actor: Membership, membership: Membership, role: str | None = None, departments=None, active: bool | None = None
) -> Membership:
    """One change of a member (a form saved, one PATCH): role, departments and active state, written together
    with ONE audit event (issue 6 §1). None leaves a part as it is; departments=None keeps them even when one
    was archived since (only new choices must be live)."""
    _require(actor, Capability.MANAGE_MEMBERS)
    _same_organisation(actor, membership)
    if role is not None and role not in Role.values:
        raise ValidationError({"role": "Choose a role."})
    if active is False and membership.pk == actor.pk:
        raise ValidationError("You cannot deactivate yourself.")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        old_role = membership.role
        role = old_role if role is None else role
        if old_role == Role.ADMIN and role != Role.ADMIN and _active_admin_count(actor.organisation_id) <= 1:
            raise ValidationError({"role": "The organisation needs at least one active admin."})
        deactivating = active is False and membership.is_active
        if deactivating and role == Role.ADMIN and _active_admin_count(actor.organisation_id) <= 1:
            raise ValidationError("The organisation needs at least one active admin.")
        current = list(membership.departments.all())
        current_ids = frozenset(d.pk for d in current)
        if departments is None:
            departments = current
        else:
            departments = _clean_departments(actor.organisation_id, departments, keep=current_ids)
        changes: dict = {}
        if role != old_role:
            membership.role = role
            membership.save(update_fields=["role"])
            changes["role"] = {"from": old_role, "to": role}
        # Compared by id: an archived department and a live one may share a name.
        if {d.pk for d in departments} != current_ids:
            membership.departments.set(departments)
            changes["departments"] = {"from": _department_names(current), "to": _department_names(departments)}
        if active is not None and active != membership.is_active:
            membership.is_active = active
            membership.deactivated_at = None if active else timezone.now()
            membership.save(update_fields=["is_active", "deactivated_at"])
            changes["active"] = {"from": not active, "to": active}
            if not active:
                # At once: this organisation's API tokens stop working, and so do their sessions unless the
                # person still works in another organisation (OrganisationMiddleware then moves those
                # sessions to that organisation on their next request).
                _end_tokens(membership.user, actor.organisation_id)
                ended = 0 if _active_elsewhere(membership.user, actor.organisation_id) else _end_sessions(membership.user)
                changes["sessions_ended"] = ended
        if changes:
            # The event is named after the weightiest part; its changes carry every part of the one save.
            if "active" in changes:
                event_type = EventType.MEMBER_REACTIVATED if active else EventType.MEMBER_DEACTIVATED
            elif "role" in changes:
                event_type = EventType.MEMBER_ROLE_CHANGED
            else:
                event_type = EventType.MEMBER_DEPARTMENTS_CHANGED
            record(
                organisation=actor.organisation,
                event_type=event_type,
                actor=actor.user,
                target=membership,
                target_repr=membership.user.label,
                changes=changes,
            )
    membership.__dict__.pop("department_ids", None)
    return membership


def _end_sessions(user: User) -> int:
    """Ends every browser session of the user; returns how many."""
    from importlib import import_module

    engine = import_module(settings.SESSION_ENGINE)
    ended = 0
    for session_record in UserSession.objects.filter(user=user):
        store: SessionBase = engine.SessionStore(session_key=session_record.session_key)
        store.delete()
        ended += 1
    UserSession.objects.filter(user=user).delete()
    return ended


def _end_tokens(user: User, organisation_id: int | None = None) -> int:
    tokens = ApiToken.objects.filter(user=user)
    if organisation_id is not None:
        tokens = tokens.filter(organisation_id=organisation_id)
    deleted, _ = tokens.delete()
    return deleted


def end_sessions_and_tokens(user: User, organisation_id: int | None = None) -> int:
    """Ends every browser session of the user, and their API tokens (for one organisation, or all)."""
    ended = _end_sessions(user)
    _end_tokens(user, organisation_id)
    return ended


def member_set_active(*, actor: Membership, membership: Membership, active: bool) -> Membership:
    """Deactivate or reactivate a member (the list's button): member_update with only the active state."""
    return member_update(actor=actor, membership=membership, active=active)


# -------------------------------------------------------------------------------------------- two-factor
def confirmed_totp(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def totp_secret(device: TOTPDevice) -> str:
    return b32encode(device.bin_key).decode().rstrip("=")


def two_factor_enrol_start(*, user: User) -> TOTPDevice:
    """An unconfirmed authenticator for the enrolment page; it counts only once a code confirms it."""
    with transaction.atomic():
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def _new_backup_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def two_factor_enrol_confirm(*, user: User, code: str) -> tuple[TOTPDevice, list[str]]:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        raise ValidationError({"code": "Start enrolment again."})
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or not device.verify_token(code):
        raise ValidationError({"code": "That code is not right. Enter the 6-digit code your app shows now."})
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_backup_codes(user)
        _record_for_user(user, EventType.TWO_FACTOR_ENROLLED, actor=user, target=user, target_repr=user.label)
    return device, codes


def backup_codes_regenerate(*, user: User) -> list[str]:
    if confirmed_totp(user) is None:
        raise ValidationError("Set up an authenticator app first.")
    with transaction.atomic():
        codes = _new_backup_codes(user)
        _record_for_user(user, EventType.BACKUP_CODES_REGENERATED, actor=user, target=user, target_repr=user.label)
    return codes


def two_factor_reset(*, actor: Membership, membership: Membership) -> None:
    """An admin clears a member's authenticator (a lost phone); they enrol again at their next sign-in.

    The authenticator belongs to the person, not to one organisation: an admin may reset it only for
    someone who works in no other organisation, or one tenant's admin could weaken another's account.
    """
    _require(actor, Capability.MANAGE_MEMBERS)
    _same_organisation(actor, membership)
    user = membership.user
    with transaction.atomic():
        # Locks the person's memberships, so one cannot be added or reactivated during the reset.
        list(Membership.objects.select_for_update().filter(user=user).values_list("pk", flat=True))
        if _active_elsewhere(user, actor.organisation_id):
            raise ValidationError(
                "This person also works in another organisation on Civic Desk, so their two-factor "
                "authentication cannot be reset from here. Ask the Civic Desk operators to reset it."
            )
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        ended = end_sessions_and_tokens(user)
        _record_for_user(
            user,
            EventType.TWO_FACTOR_RESET,
            actor=actor.user,
            also=actor.organisation,
            target=membership,
            target_repr=user.label,
            changes={"sessions_ended": ended},
        )


# ------------------------------------------------------------------------------------ sign-in and tokens
def sign_in_recorded(*, user: User, session_key: str | None) -> None:
    with transaction.atomic():
        if session_key:
            UserSession.objects.get_or_create(session_key=session_key, defaults={"user": user})
        _record_for_user(user, EventType.SIGN_IN, actor=user, target=user, target_repr=user.label)


def sign_in_failed_recorded(*, email: str, reason: str = "bad credentials") -> None:
    user = User.objects.filter(email__iexact=(email or "")[:254]).first()
    with transaction.atomic():
        _record_for_user(
            user,
            EventType.SIGN_IN_FAILED,
            actor=None,
            actor_label=f"unauthenticated: {(email or '')[:200]}",
            changes={"email": (email or "")[:254], "reason": reason},
        )


def lockout_recorded(*, email: str) -> None:
    user = User.objects.filter(email__iexact=(email or "")[:254]).first()
    with transaction.atomic():
        _record_for_user(
            user,
            EventType.LOCKOUT,
            actor=None,
            actor_label=f"unauthenticated: {(email or '')[:200]}",
            changes={"email": (email or "")[:254], "cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)},
        )


def sign_out_recorded(*, user: User, session_key: str | None) -> None:
    with transaction.atomic():
        if session_key:
            UserSession.objects.filter(session_key=session_key).delete()
        _record_for_user(user, EventType.SIGN_OUT, actor=user, target=user, target_repr=user.label)


class SessionEndReason:
    IDLE = "idle"
    LIFETIME = "lifetime"


def session_expire(*, session_key: str | None, membership: Membership, reason: str) -> None:
    """Records that a session ended by itself (idle timeout or absolute lifetime); the caller flushes it.

    Not a sign-out: the person did nothing, so no auth.sign_out is written.
    """
    if reason == SessionEndReason.IDLE:
        changes = {"reason": reason, "idle_timeout_minutes": membership.organisation.idle_timeout_minutes}
    elif reason == SessionEndReason.LIFETIME:
        changes = {"reason": reason, "session_lifetime_seconds": settings.SESSION_COOKIE_AGE}
    else:
        raise ValueError(f"unknown session end reason {reason!r}")
    with transaction.atomic():
        if session_key:
            UserSession.objects.filter(session_key=session_key).delete()
        record(
            organisation=membership.organisation,
            event_type=EventType.SESSION_EXPIRED,
            actor=membership.user,
            target=membership.user,
            target_repr=membership.user.label,
            changes=changes,
        )


def password_set(*, user: User, password: str, via: str) -> None:
    """A new password: saved, every session and API token ended, and recorded, in one transaction.

    The reason to change a password is often a leak, so nothing signed in with the old one survives.
    """
    password_validation.validate_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        ended = end_sessions_and_tokens(user)
        _record_for_user(
            user,
            EventType.PASSWORD_CHANGED,
            actor=user,
            target=user,
            target_repr=user.label,
            changes={"via": via, "sessions_ended": ended},
        )


def password_reset_requested_recorded(*, email: str) -> None:
    user = User.objects.filter(email__iexact=(email or "")[:254], is_active=True).first()
    if user is None:
        return
    with transaction.atomic():
        _record_for_user(user, EventType.PASSWORD_RESET_REQUESTED, actor=None, actor_label=f"unauthenticated: {user.email}", target=user, target_repr=user.label)


def api_token_create(*, membership: Membership, otp_device: Device | None = None) -> str:
    """A new API token. `otp_device` is the device that just verified a one-time code for this request;
    only then is the token marked otp_verified, which organisations requiring two-factor insist on."""
    otp_verified = otp_device is not None and otp_device.user_id == membership.user_id and otp_device.confirmed
    raw = "cd_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=membership.user,
            organisation_id=membership.organisation_id,
            digest=token_digest(raw),
            otp_verified=otp_verified,
        )
        record(
            organisation=membership.organisation,
            event_type=EventType.API_TOKEN_CREATED,
            actor=membership.user,
            target=token,
            target_repr=f"API token {token.pk} of {membership.user.label}",
            changes={"otp_verified": otp_verified},
        )
    return raw


def api_token_revoke(*, token: ApiToken) -> None:
    with transaction.atomic():
        deleted, _ = ApiToken.objects.filter(pk=token.pk).delete()
        if deleted:
            record(
                organisation=token.organisation,
                event_type=EventType.API_TOKEN_REVOKED,
                actor=token.user,
                target_repr=f"API token {token.pk} of {token.user.label}",
            )


def api_token_touch(token: ApiToken) -> None:
    # At most once a minute, so reading with a token does not write on every call.
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


# ---------------------------------------------------------------------------- set-up (seed, operators)
def organisation_create(
    *, name: str, slug: str, two_factor_policy: str = "optional", department_names: list[str] = ()
) -> Organisation:
    """A new tenant and its first departments (operators and seed_demo; the actor is the system)."""
    with transaction.atomic():
        organisation = Organisation(name=name, slug=slug, two_factor_policy=two_factor_policy)
        organisation.full_clean()
        organisation.save()
        departments = [Department.objects.create(organisation=organisation, name=n) for n in department_names]
        # One action, one event (issue 6 §1): the first departments are part of the organisation's creation.
        record(
            organisation=organisation,
            event_type=EventType.ORGANISATION_CREATED,
            target=organisation,
            changes={"name": name, "slug": slug, "two_factor_policy": two_factor_policy,
                     "departments": [{"id": d.pk, "name": d.name} for d in departments]},
        )
    return organisation


def member_add(*, organisation: Organisation, user: User, role: str, departments) -> Membership:
    """Adds a person directly (operators and seed_demo); people normally join through an invitation."""
    departments = _clean_departments(organisation.pk, departments)
    with transaction.atomic():
        membership = Membership.objects.create(user=user, organisation=organisation, role=role)
        membership.departments.set(departments)
        record(
            organisation=organisation,
            event_type=EventType.MEMBER_ROLE_CHANGED,
            target=membership,
            target_repr=user.label,
            changes={"role": {"from": None, "to": role}, "departments": _department_names(departments)},
        )
    return membership
