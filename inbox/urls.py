"""The inbox's pages and webhook receivers; each views module lists its own routes."""

from inbox.views import conversation, inbox_list, records, settings_pages, webhooks

app_name = "inbox"

urlpatterns = [*inbox_list.urls, *conversation.urls, *settings_pages.urls, *webhooks.urls, *records.urls]
