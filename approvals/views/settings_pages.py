"""Publishing settings pages: the organisation's settings and blocked words (admins), each department's
approval policy and each channel's approval rule (managers of that department, and admins).

Thin views: parse with a form, call one service in approvals.settings_services (which checks roles and
departments again and audits), render. Objects come through visible_to() (another organisation's object
is a 404); a role without MANAGE_POLICIES gets a 403; a manager another department's policy or channel a 404.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from accounts.models import Department
from accounts.roles import Capability
from approvals import settings_services as services
from approvals.models import ApprovalPolicy, BlockedWord, BlockedWordAction, ChannelApprovalRule
from channels_app.models import Channel
from smm.forms import StyledForm, add_service_errors
from smm.scoping import get_visible_or_404, member_required

SETTINGS, ADD_WORD, REMOVE_WORD = "settings", "add_word", "remove_word"


class WholeNumberField(forms.IntegerField):
    """An integer typed with the digits 0–9 only (int() would also take "٣"; "²" is not a number)."""

    def to_python(self, value):
        if isinstance(value, str) and value.strip() and not (value.strip().isascii() and value.strip().isdigit()):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


def _numeric(**attrs) -> forms.NumberInput:
    return forms.NumberInput(attrs={"inputmode": "numeric", "autocomplete": "off", **attrs})


# --------------------------------------------------------------------------------------------- forms
class PublishingSettingsForm(StyledForm, forms.Form):
    alt_text_required = forms.BooleanField(
        label="Images need alt text before a post can be submitted",
        required=False,
        help_text="Alt text describes an image for people who cannot see it. Recommended: on.",
    )
    hold_late_posts_after_minutes = WholeNumberField(
        label="Hold posts more than this many minutes late",
        required=False,
        min_value=1,
        max_value=services.HOLD_LATE_MAX_MINUTES,
        error_messages={"invalid": "Enter a whole number of minutes, or leave it empty."},
        widget=_numeric(min=1, max=services.HOLD_LATE_MAX_MINUTES),
        help_text="When publishing was held up (for example the workers were down), a post this late waits for a "
        "person to publish it or pick a new time. Leave empty to publish late posts as soon as possible.",
    )


class BlockedWordForm(StyledForm, forms.Form):
    phrase = forms.CharField(
        label="Word or phrase", max_length=services.PHRASE_MAX,
        help_text="Matched as a whole word or phrase, in any case, in the title, text and variants.",
    )
    action = forms.ChoiceField(
        label="When a post contains it", choices=BlockedWordAction.choices, initial=BlockedWordAction.REVIEW,
        widget=forms.RadioSelect,
    )


class ApprovalPolicyForm(StyledForm, forms.Form):
    approvals_required = WholeNumberField(
        label="Approvals needed",
        min_value=services.APPROVALS_MIN,
        max_value=services.APPROVALS_MAX,
        error_messages={"invalid": "Enter a whole number from 1 to 5."},
        widget=_numeric(min=services.APPROVALS_MIN, max=services.APPROVALS_MAX),
        help_text="How many different people must approve a post (1 to 5). The author never counts.",
    )
    approver_roles = forms.MultipleChoiceField(
        label="Who may approve",
        choices=services.APPROVER_ROLE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one role that can approve posts."},
        help_text="Only roles that can approve posts are offered. Approvers must belong to the department; "
        "admins approve everywhere.",
    )


NO_RULE = ""


class ChannelRuleForm(StyledForm, forms.Form):
    approvals_required = forms.ChoiceField(
        label="Approvals needed for posts to this channel",
        required=False,
        choices=[(NO_RULE, "No rule: the department's policy decides")]
        + [(str(n), f"At least {n}") for n in range(services.APPROVALS_MIN, services.APPROVALS_MAX + 1)],
        help_text="A post going to several channels needs the most approvals any of them asks for.",
    )

    def clean_approvals_required(self):
        value = self.cleaned_data["approvals_required"]
        return int(value) if value else None


# ---------------------------------------------------------------------------------------- helpers
def _managed_departments(membership):
    departments = Department.objects.visible_to(membership).active()
    if not membership.sees_all_departments:
        departments = departments.filter(pk__in=membership.department_ids)
    return departments.order_by("name")


def _managed_channels(membership) -> list[Channel]:
    return [
        c for c in Channel.objects.visible_to(membership).connected().for_list()
        if services.can_manage_department(membership, c.department_id)
    ]


def _roles_text(roles: list[str]) -> str:
    labels = dict(services.APPROVER_ROLE_CHOICES)
    names = [f"{labels.get(r, r).lower()}s" for r in roles]
    return " or ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names) or "nobody"


# -------------------------------------------------------------------------------------------- index
@member_required(Capability.MANAGE_POLICIES)
@require_http_methods(["GET", "POST"])
def settings_index(request: HttpRequest) -> HttpResponse:
    membership = request.membership
    can_edit = membership.sees_all_departments
    current = services.settings_for(membership.organisation_id)
    settings_form = PublishingSettingsForm(initial={
        "alt_text_required": current.alt_text_required,
        "hold_late_posts_after_minutes": current.hold_late_posts_after_minutes,
    })
    word_form = BlockedWordForm()
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied("Only admins change the organisation's publishing settings.")
        section = request.POST.get("section", SETTINGS)
        if section == REMOVE_WORD:
            raw = request.POST.get("word", "")
            removed = None
            if raw.isascii() and raw.isdigit():
                removed = services.blocked_word_remove(actor=membership, word_id=int(raw))
            if removed is None:
                messages.info(request, "That word was no longer on the list.")
            else:
                messages.success(request, f"“{removed.phrase}” removed from the blocked words.")
            return redirect("approvals:settings")
        if section == ADD_WORD:
            word_form = BlockedWordForm(request.POST)
            if word_form.is_valid():
                try:
                    word = services.blocked_word_add(actor=membership, **word_form.cleaned_data)
                except ValidationError as exc:
                    add_service_errors(word_form, exc)
                else:
                    messages.success(request, f"“{word.phrase}” added to the blocked words.")
                    return redirect("approvals:settings")
        else:
            settings_form = PublishingSettingsForm(request.POST)
            if settings_form.is_valid():
                try:
                    services.settings_update(actor=membership, **settings_form.cleaned_data)
                except ValidationError as exc:
                    add_service_errors(settings_form, exc)
                else:
                    messages.success(request, "Publishing settings saved.")
                    return redirect("approvals:settings")
    departments = list(_managed_departments(membership))
    policies = {p.department_id: p for p in ApprovalPolicy.objects.visible_to(membership)}
    for department in departments:
        department.policy = policies.get(department.pk) or services.policy_for(department)
        department.approvers_text = _roles_text(department.policy.approver_roles)
    channels = _managed_channels(membership)
    rules = {r.channel_id: r for r in ChannelApprovalRule.objects.visible_to(membership)}
    for channel in channels:
        channel.rule = rules.get(channel.pk)
    return render(request, "approvals/settings/index.html", {
        "can_edit": can_edit,
        "current": current,
        "settings_form": settings_form,
        "word_form": word_form,
        "words": BlockedWord.objects.visible_to(membership).order_by("phrase"),
        "departments": departments,
        "channels": channels,
        "sections": {"settings": SETTINGS, "add_word": ADD_WORD, "remove_word": REMOVE_WORD},
        "has_errors": settings_form.errors or word_form.errors,
    })


# --------------------------------------------------------------------------------- approval policy
@member_required(Capability.MANAGE_POLICIES)
@require_http_methods(["GET", "POST"])
def approval_policy(request: HttpRequest, pk: int) -> HttpResponse:
    membership = request.membership
    department = get_visible_or_404(Department.objects.active(), membership, Capability.MANAGE_POLICIES, pk=pk)
    if not services.can_manage_department(membership, department.pk):
        raise Http404("Not found.")
    policy = services.policy_for(department)
    form = ApprovalPolicyForm(
        request.POST or None,
        initial={"approvals_required": policy.approvals_required, "approver_roles": list(policy.approver_roles)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            policy = services.policy_update(actor=membership, department=department, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Approval policy for {department.name} saved.")
            able = len(services.possible_approvers(department, policy.approver_roles))
            if able < policy.approvals_required:
                messages.warning(
                    request,
                    f"Only {able} {'person' if able == 1 else 'people'} can approve {department.name}’s posts, "
                    f"but {policy.approvals_required} approvals are needed: posts will wait until more can approve.",
                )
            return redirect("approvals:approval_policy", pk=department.pk)
    approvers = services.possible_approvers(department, policy.approver_roles)
    return render(request, "approvals/settings/policy.html", {
        "department": department, "form": form, "approvers": approvers, "policy": policy,
    })


# ------------------------------------------------------------------------------------ channel rule
@member_required(Capability.MANAGE_POLICIES)
@require_http_methods(["GET", "POST"])
def channel_rule(request: HttpRequest, pk: int) -> HttpResponse:
    membership = request.membership
    channel = get_visible_or_404(
        Channel.objects.connected().select_related("department"), membership, Capability.MANAGE_POLICIES, pk=pk
    )
    if not services.can_manage_department(membership, channel.department_id):
        raise Http404("Not found.")
    rule = ChannelApprovalRule.objects.filter(channel=channel).first()
    form = ChannelRuleForm(
        request.POST or None, initial={"approvals_required": str(rule.approvals_required) if rule else NO_RULE}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.channel_rule_update(
                actor=membership, channel=channel, approvals_required=form.cleaned_data["approvals_required"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Approval rule for {channel} saved.")
            return redirect("approvals:channel_rule", pk=channel.pk)
    return render(request, "approvals/settings/channel_rule.html", {
        "channel": channel, "form": form, "rule": rule, "policy": services.policy_for(channel.department),
    })


urls = [
    path("posts/settings/", settings_index, name="settings"),
    path("posts/settings/departments/<int:pk>/", approval_policy, name="approval_policy"),
    path("posts/settings/channels/<int:pk>/", channel_rule, name="channel_rule"),
]
