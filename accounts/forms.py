"""HTML forms for accounts. They parse and validate input; the services do the writes."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm

from accounts.models import Department, Membership, Organisation, timezone_choices
from accounts.roles import Role
from smm.forms import StyledForm


class SignInForm(StyledForm, forms.Form):
    email = forms.EmailField(label="E-mail address", widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class OneTimeCodeForm(StyledForm, forms.Form):
    code = forms.CharField(
        label="Code from your authenticator app, or a backup code",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}),
    )


class EnrolForm(StyledForm, forms.Form):
    code = forms.CharField(
        label="6-digit code from your authenticator app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class OrganisationSecurityForm(StyledForm, forms.ModelForm):
    # The model validates time zones; the list to choose from is built here, from this machine's tzdata.
    timezone = forms.ChoiceField(label="Time zone", choices=timezone_choices)
    # The model's check constraint (5–720) would otherwise show as an error at the top, not beside the field.
    idle_timeout_minutes = forms.IntegerField(
        label="Sign out after this many minutes without activity",
        min_value=5,
        max_value=720,
        help_text="Between 5 and 720 minutes.",
    )

    class Meta:
        model = Organisation
        fields = ["name", "timezone", "two_factor_policy", "idle_timeout_minutes"]
        labels = {"two_factor_policy": "Two-factor authentication"}


class DepartmentForm(StyledForm, forms.Form):
    name = forms.CharField(label="Department name", max_length=120)


def _department_field(organisation_id: int) -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        label="Departments",
        required=False,
        queryset=Department.objects.for_organisation(organisation_id).active(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Members who are not admins see only their departments' channels, conversations and posts.",
    )


class InviteForm(StyledForm, forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(label="Role", choices=Role.choices)

    def __init__(self, *args, organisation_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["departments"] = _department_field(organisation_id)


class MemberForm(StyledForm, forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["departments"] = _department_field(membership.organisation_id)
        # Archived departments are not offered, so they cannot be unticked by accident: the member keeps them.
        self.kept_departments = list(membership.departments.filter(archived_at__isnull=False).order_by("name"))
        if self.kept_departments:
            names = ", ".join(d.name for d in self.kept_departments)
            self.fields["departments"].help_text += f" Archived departments kept: {names}."

    def clean_departments(self):
        return [*self.cleaned_data["departments"], *self.kept_departments]


class AcceptInvitationForm(StyledForm, forms.Form):
    full_name = forms.CharField(label="Your name", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    password1 = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 12 characters, not a common password.",
    )
    password2 = forms.CharField(
        label="Type the password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password1") and cleaned.get("password1") != cleaned.get("password2"):
            self.add_error("password2", "The two passwords do not match.")
        return cleaned


class StyledPasswordResetForm(StyledForm, PasswordResetForm):
    pass


class StyledSetPasswordForm(StyledForm, SetPasswordForm):
    pass

