from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from accounts import api as accounts_api
from approvals import api as approvals_api
from audit import api as audit_api
from channels_app import api as channels_api
from inbox import api as inbox_api
from metrics import api as metrics_api
from smm import views

router = SimpleRouter()
router.register("departments", accounts_api.DepartmentViewSet, basename="department")
router.register("members", accounts_api.MemberViewSet, basename="member")
router.register("channels", channels_api.ChannelViewSet, basename="channel")
router.register("conversations", inbox_api.ConversationViewSet, basename="conversation")
router.register("saved-replies", inbox_api.SavedReplyViewSet, basename="saved-reply")
router.register("posts", approvals_api.PostViewSet, basename="post")
router.register("audit-events", audit_api.AuditEventViewSet, basename="audit-event")

api_v1 = [
    path("auth/token/", accounts_api.AuthTokenView.as_view(), name="auth-token"),
    path("me/", accounts_api.MeView.as_view(), name="me"),
    path("organisation/", accounts_api.OrganisationView.as_view(), name="organisation"),
    *router.urls,
    *metrics_api.URLS,
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("accounts.urls")),
    path("", include("channels_app.urls")),
    path("", include("inbox.urls")),
    path("", include("approvals.urls")),
    path("", include("audit.urls")),
    path("", include("metrics.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
]

handler400 = "smm.views.error_400"
handler403 = "smm.views.error_403"
handler404 = "smm.views.error_404"
handler500 = "smm.views.error_500"
