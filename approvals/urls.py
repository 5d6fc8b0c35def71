"""Posts: composer, post page, approval queue, calendar and lists, publishing settings; each module lists its routes."""

from django.urls import path

from approvals.views import calendar, compose, post_page, queue, records, settings_pages
from audit.history import object_history

app_name = "approvals"

urlpatterns = [
    *compose.urls,
    *post_page.urls,
    *queue.urls,
    *calendar.urls,
    *settings_pages.urls,
    *records.urls,
    # The post's History tab (audit/history.py).
    path("posts/<int:pk>/history/", object_history, {"kind": "approvals.post"}, name="post_history"),
]
