"""The dashboards' pages (/dashboards/...): the KPI dashboards (metrics/views/pages.py) and the channel-shift data
entry (metrics/views/channel_shift_data.py)."""

from django.urls import path

from metrics.views import channel_shift_data, pages

app_name = "metrics"

urlpatterns = [
    *pages.urls,
    # ---- Channel-shift data entry (helper H7): offline contact volumes and costs per contact.
    path("dashboards/channel-shift/data/", channel_shift_data.volumes, name="channel_shift_data"),
    path("dashboards/channel-shift/costs/", channel_shift_data.costs, name="channel_shift_costs"),
]
