"""The inbox's pages and webhook receivers; each views module lists its own routes."""

from django.urls import path

from audit.history import object_history
from inbox.views import conversation, inbox_list, records, settings_pages, webhooks

app_name = "inbox"

urlpatterns = [
    *inbox_list.urls,
    *conversation.urls,
    *settings_pages.urls,
    *webhooks.urls,
    *records.urls,
    # The conversation's History tab (audit/history.py).
    path("inbox/<int:pk>/history/", object_history, {"kind": "inbox.conversation"}, name="conversation_history"),
]
