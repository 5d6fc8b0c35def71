"""The audit trail's pages and downloads; each views module lists its own routes."""

from audit import export_views, views

app_name = "audit"

urlpatterns = [*views.urls, *export_views.urls]
