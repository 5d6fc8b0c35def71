from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.views import auth, manage
from audit.history import object_history

app_name = "accounts"

urlpatterns = [
    path("accounts/sign-in/", auth.sign_in, name="login"),
    path("accounts/sign-in/code/", auth.sign_in_code, name="sign_in_code"),
    path("accounts/sign-out/", auth.sign_out, name="logout"),
    path("accounts/two-factor/", auth.two_factor, name="two_factor"),
    path("accounts/two-factor/backup-codes/", auth.backup_codes_regenerate, name="backup_codes"),
    path("accounts/organisation/switch/", auth.switch_organisation, name="switch_organisation"),
    path("accounts/password-reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path("accounts/password-reset/<uidb64>/<token>/", auth.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path(
        "accounts/password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("invite/<str:token>/", auth.invitation_accept, name="invitation_accept"),
    path("settings/security/", manage.security_settings, name="security_settings"),
    path("settings/departments/", manage.department_list, name="department_list"),
    path("settings/departments/<int:pk>/", manage.department_edit, name="department_edit"),
    path("settings/departments/<int:pk>/archive/", manage.department_archive, name="department_archive"),
    path("settings/members/", manage.member_list, name="member_list"),
    path("settings/members/invite/", manage.member_invite, name="member_invite"),
    path("settings/members/<int:pk>/", manage.member_edit, name="member_edit"),
    # The member's History tab (audit/history.py).
    path("settings/members/<int:pk>/history/", object_history, {"kind": "accounts.membership"}, name="member_history"),
    path("settings/members/<int:pk>/active/", manage.member_set_active, name="member_set_active"),
    path("settings/members/<int:pk>/two-factor/reset/", manage.member_two_factor_reset, name="member_two_factor_reset"),
    path("settings/invitations/<int:pk>/revoke/", manage.invitation_revoke, name="invitation_revoke"),
]
