"""Posts: composer, post page, approval queue, calendar and lists, publishing settings; each module lists its routes."""

from approvals.views import calendar, compose, post_page, queue, records, settings_pages

app_name = "approvals"

urlpatterns = [*compose.urls, *post_page.urls, *queue.urls, *calendar.urls, *settings_pages.urls, *records.urls]
