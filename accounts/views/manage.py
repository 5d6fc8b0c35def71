"""Organisation settings pages for admins: security, departments, members and invitations."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import forms, services
from accounts.models import Department, Invitation, Membership
from accounts.roles import Capability
from smm.forms import add_service_errors
from smm.scoping import get_visible_or_404, member_required


# ------------------------------------------------------------------------------------------- security
@member_required(Capability.MANAGE_ORGANISATION)
@require_http_methods(["GET", "POST"])
def security_settings(request: HttpRequest) -> HttpResponse:
    organisation = request.membership.organisation
    form = forms.OrganisationSecurityForm(request.POST or None, instance=organisation)
    if request.method == "POST" and form.is_valid():
        try:
            services.organisation_update_settings(
                actor=request.membership, data={f: form.cleaned_data[f] for f in form.Meta.fields}
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Organisation settings saved.")
            return redirect("accounts:security_settings")
    if form.errors:
        # A failed form must not leave half-applied values on the organisation shown in the header.
        organisation.refresh_from_db()
    return render(request, "accounts/manage/security.html", {"form": form})


# ----------------------------------------------------------------------------------------- departments
@member_required(Capability.MANAGE_DEPARTMENTS)
@require_http_methods(["GET", "POST"])
def department_list(request: HttpRequest) -> HttpResponse:
    form = forms.DepartmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            department = services.department_create(actor=request.membership, name=form.cleaned_data["name"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Department “{department.name}” created.")
            return redirect("accounts:department_list")
    departments = Department.objects.visible_to(request.membership).order_by("archived_at", "name")
    return render(request, "accounts/manage/departments.html", {"departments": departments, "form": form})


@member_required(Capability.MANAGE_DEPARTMENTS)
@require_http_methods(["GET", "POST"])
def department_edit(request: HttpRequest, pk: int) -> HttpResponse:
    department = get_visible_or_404(Department.objects, request.membership, Capability.MANAGE_DEPARTMENTS, pk=pk)
    form = forms.DepartmentForm(request.POST or None, initial={"name": department.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.department_rename(actor=request.membership, department=department, name=form.cleaned_data["name"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Department renamed.")
            return redirect("accounts:department_list")
    return render(request, "accounts/manage/department_edit.html", {"department": department, "form": form})


@member_required(Capability.MANAGE_DEPARTMENTS)
@require_POST
def department_archive(request: HttpRequest, pk: int) -> HttpResponse:
    department = get_visible_or_404(Department.objects, request.membership, Capability.MANAGE_DEPARTMENTS, pk=pk)
    archive = request.POST.get("archived", "1") == "1"
    try:
        services.department_set_archived(actor=request.membership, department=department, archived=archive)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Department “{department.name}” {'archived' if archive else 'restored'}.")
    return redirect("accounts:department_list")


# --------------------------------------------------------------------------------------------- members
@member_required(Capability.MANAGE_MEMBERS)
@require_http_methods(["GET"])
def member_list(request: HttpRequest) -> HttpResponse:
    members = Membership.objects.visible_to(request.membership).for_member_list()
    invitations = Invitation.objects.visible_to(request.membership).pending().prefetch_related("departments")
    return render(request, "accounts/manage/members.html", {"members": members, "invitations": invitations})


@member_required(Capability.MANAGE_MEMBERS)
@require_http_methods(["GET", "POST"])
def member_invite(request: HttpRequest) -> HttpResponse:
    form = forms.InviteForm(request.POST or None, organisation_id=request.membership.organisation_id)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, _ = services.invitation_create(
                actor=request.membership,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                departments=form.cleaned_data["departments"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}. The link works once and expires in 7 days.")
            return redirect("accounts:member_list")
    return render(request, "accounts/manage/invite.html", {"form": form})


@member_required(Capability.MANAGE_MEMBERS)
@require_http_methods(["GET", "POST"])
def member_edit(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_visible_or_404(Membership.objects.select_related("user"), request.membership, Capability.MANAGE_MEMBERS, pk=pk)
    form = forms.MemberForm(
        request.POST or None,
        membership=member,
        initial={"role": member.role, "departments": list(member.departments.all())},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.member_update(
                actor=request.membership,
                membership=member,
                role=form.cleaned_data["role"],
                departments=form.cleaned_data["departments"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{member.user} updated.")
            return redirect("accounts:member_list")
    return render(
        request,
        "accounts/manage/member_edit.html",
        {"member": member, "form": form, "is_self": member.pk == request.membership.pk,
         "has_two_factor": services.confirmed_totp(member.user) is not None},
    )


@member_required(Capability.MANAGE_MEMBERS)
@require_POST
def member_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_visible_or_404(Membership.objects.select_related("user"), request.membership, Capability.MANAGE_MEMBERS, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        services.member_set_active(actor=request.membership, membership=member, active=active)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"{member.user} reactivated."
            if active
            else f"{member.user} deactivated; they can no longer act in this organisation and their API tokens for it have ended.",
        )
    return redirect("accounts:member_list")


@member_required(Capability.MANAGE_MEMBERS)
@require_POST
def member_two_factor_reset(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_visible_or_404(Membership.objects.select_related("user"), request.membership, Capability.MANAGE_MEMBERS, pk=pk)
    try:
        services.two_factor_reset(actor=request.membership, membership=member)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Two-factor authentication reset for {member.user}. They will set it up again at their next sign-in."
        )
    return redirect("accounts:member_edit", pk=member.pk)


@member_required(Capability.MANAGE_MEMBERS)
@require_POST
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_visible_or_404(Invitation.objects, request.membership, Capability.MANAGE_MEMBERS, pk=pk)
    services.invitation_revoke(actor=request.membership, invitation=invitation)
    messages.success(request, f"Invitation for {invitation.email} revoked.")
    return redirect("accounts:member_list")
