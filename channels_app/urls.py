from django.urls import path

from audit.history import object_history
from channels_app.views import channels, connect

app_name = "channels_app"

urlpatterns = [
    path("channels/", channels.channel_list, name="channel_list"),
    path("channels/connect/", connect.connect_start, name="connect_start"),
    path("channels/connect/<str:platform>/callback/", connect.connect_callback, name="connect_callback"),
    path("channels/connect/pages/<str:state>/", connect.connect_pages, name="connect_pages"),
    path("channels/<int:pk>/disconnect/", channels.channel_disconnect, name="channel_disconnect"),
    path("channels/<int:pk>/grants/", channels.channel_grants, name="channel_grants"),
    # The channel's History tab (audit/history.py).
    path("channels/<int:pk>/history/", object_history, {"kind": "channels_app.channel"}, name="channel_history"),
]
