"""Retention settings, legal holds, erasure and records-request downloads (issue 6 §6). Admins only
(MANAGE_ORGANISATION): each is about what the organisation keeps or discloses about a person.

Thin views: a form parses, one service in inbox.retention / inbox.erasure / inbox.records checks the role again,
writes and audits. Objects come through get_visible_or_404 (another organisation's object is a 404 before a
missing role is a 403).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.roles import Capability
from audit.models import AuditEvent, EventType
from inbox import erasure, records, retention
from inbox.models import (
    AUDIT_RETENTION_DAYS_MAX,
    AUDIT_RETENTION_DAYS_MIN,
    MESSAGE_RETENTION_DAYS_MAX,
    MESSAGE_RETENTION_DAYS_MIN,
    Contact,
    Conversation,
    Message,
)
from smm.forms import StyledForm
from smm.scoping import get_visible_or_404, member_required

ON_HOLD_LISTED = 100
REASON_HELP = (
    f"At least {retention.REASON_MIN} characters. Use your case or request reference; "
    "do not write the person's name or other personal details here (the audit trail keeps it for years)."
)


class RetentionForm(StyledForm, forms.Form):
    message_retention_days = forms.IntegerField(
        label="Keep message content for (days)",
        min_value=MESSAGE_RETENTION_DAYS_MIN,
        max_value=MESSAGE_RETENTION_DAYS_MAX,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text=f"From {MESSAGE_RETENTION_DAYS_MIN} to {MESSAGE_RETENTION_DAYS_MAX:,} days; 730 (two years) unless "
        "changed. After this, the text of messages, replies and notes and the contact's name, handle and picture are "
        "removed each night. Counts, times and flags stay, so reports do not change.",
    )
    audit_retention_days = forms.IntegerField(
        label="Keep audit events for (days)",
        min_value=AUDIT_RETENTION_DAYS_MIN,
        max_value=AUDIT_RETENTION_DAYS_MAX,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text=f"From {AUDIT_RETENTION_DAYS_MIN} to {AUDIT_RETENTION_DAYS_MAX:,} days; 2,555 (seven years) unless "
        "changed. Older events are archived and removed by your system operator, never by the application.",
    )


class HoldForm(StyledForm, forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=retention.REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=REASON_HELP,
    )


class EraseForm(StyledForm, forms.Form):
    reason = forms.CharField(
        label="Reason for erasure", max_length=retention.REASON_MAX, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=REASON_HELP,
    )
    confirm = forms.BooleanField(
        label="I understand that this removes the person's messages and details for good",
        error_messages={"required": "Tick the box to confirm the erasure."},
    )


def _errors_into(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# ------------------------------------------------------------------------------------- settings page
@member_required(Capability.MANAGE_ORGANISATION)
@require_http_methods(["GET", "POST"])
def retention_settings(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    policy = retention.policy_for(membership.organisation_id)
    form = RetentionForm(
        request.POST or None,
        initial={
            "message_retention_days": policy.message_retention_days,
            "audit_retention_days": policy.audit_retention_days,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            retention.retention_policy_update(actor=membership, **form.cleaned_data)
        except ValidationError as exc:
            _errors_into(form, exc)
        else:
            messages.success(request, "Retention settings saved.")
            return redirect("inbox:settings_retention")
    last_run = (
        AuditEvent.objects.visible_to(membership)
        .filter(event_type=EventType.RETENTION_RUN)
        .order_by("-occurred_at", "-id")
        .first()
    )
    return render(
        request,
        "inbox/records/retention_settings.html",
        {
            "form": form,
            "last_run": last_run,
            "held_conversations": Conversation.objects.visible_to(membership)
            .filter(legal_hold=True)
            .select_related("channel")
            .order_by("-id")[:ON_HOLD_LISTED],
            "held_contacts": Contact.objects.visible_to(membership).filter(legal_hold=True).order_by("-id")[:ON_HOLD_LISTED],
        },
    )


# ---------------------------------------------------------------------------------------- legal holds
def _hold_page(request: HttpRequest, obj, *, kind: str, change, back_url: str) -> HttpResponse:
    form = HoldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            change(hold=not obj.legal_hold, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            _errors_into(form, exc)
        except (Conversation.DoesNotExist, Contact.DoesNotExist):
            raise Http404("Not found.") from None
        else:
            messages.success(request, f"Legal hold {'released' if obj.legal_hold else 'set'} on this {kind}.")
            return redirect(request.path)
    return render(
        request,
        "inbox/records/legal_hold.html",
        {"obj": obj, "kind": kind, "form": form, "back_url": back_url},
        status=400 if form.errors else 200,
    )


@member_required()
@require_http_methods(["GET", "POST"])
def conversation_legal_hold(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_visible_or_404(Conversation.objects, request.membership, Capability.MANAGE_ORGANISATION, pk=pk)
    return _hold_page(
        request,
        conversation,
        kind="conversation",
        change=lambda hold, reason: retention.conversation_legal_hold(
            actor=request.membership, conversation_id=conversation.pk, hold=hold, reason=reason
        ),
        back_url=reverse("inbox:conversation", args=[conversation.pk]),
    )


@member_required()
@require_http_methods(["GET", "POST"])
def contact_legal_hold(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_visible_or_404(Contact.objects, request.membership, Capability.MANAGE_ORGANISATION, pk=pk)
    conversation = Conversation.objects.visible_to(request.membership).filter(contact=contact).order_by("-id").first()
    return _hold_page(
        request,
        contact,
        kind="contact",
        change=lambda hold, reason: retention.contact_legal_hold(
            actor=request.membership, contact_id=contact.pk, hold=hold, reason=reason
        ),
        back_url=reverse("inbox:conversation", args=[conversation.pk]) if conversation else reverse("inbox:settings_retention"),
    )


# -------------------------------------------------------------------------------------------- erasure
@member_required()
@require_http_methods(["GET", "POST"])
def contact_erase(request: HttpRequest, pk: int) -> HttpResponse:
    membership = request.membership
    contact = get_visible_or_404(Contact.objects, membership, Capability.MANAGE_ORGANISATION, pk=pk)
    form = EraseForm(request.POST or None)
    if request.method == "POST" and contact.erased_at is None and form.is_valid():
        try:
            counts = erasure.contact_erase(actor=membership, contact_id=contact.pk, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            _errors_into(form, exc)
        except Contact.DoesNotExist:
            raise Http404("Not found.") from None
        else:
            messages.success(
                request,
                f"Contact erased: {counts['messages']} messages, {counts['replies']} replies and "
                f"{counts['notes']} notes removed.",
            )
            return redirect("inbox:contact_erase", pk=contact.pk)
    conversations = Conversation.objects.visible_to(membership).filter(contact=contact)
    return render(
        request,
        "inbox/records/erase_contact.html",
        {
            "contact": contact,
            "form": form,
            "message_count": Message.objects.visible_to(membership).filter(author=contact).count(),
            "conversation_count": conversations.count(),
            "held_conversations": list(conversations.filter(legal_hold=True).values_list("pk", flat=True)[:20]),
            "first_conversation": conversations.order_by("-id").first(),
        },
        status=400 if form.errors else 200,
    )


# ----------------------------------------------------------------------------------- records download
@member_required()
@require_GET
def conversation_records(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_visible_or_404(Conversation.objects, request.membership, Capability.MANAGE_ORGANISATION, pk=pk)
    try:
        body = records.conversation_bundle(request.membership, conversation.pk)
    except Conversation.DoesNotExist:
        raise Http404("Not found.") from None
    response = HttpResponse(body, content_type="application/zip")
    filename = f"conversation-{conversation.pk}-records-{timezone.now():%Y%m%d-%H%M%S}.zip"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


urls = [
    path("inbox/settings/retention/", retention_settings, name="settings_retention"),
    path("inbox/<int:pk>/legal-hold/", conversation_legal_hold, name="conversation_legal_hold"),
    path("inbox/<int:pk>/records.zip", conversation_records, name="conversation_records"),
    path("inbox/contacts/<int:pk>/legal-hold/", contact_legal_hold, name="contact_legal_hold"),
    path("inbox/contacts/<int:pk>/erase/", contact_erase, name="contact_erase"),
]
