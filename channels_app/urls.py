from django.urls import path

from channels_app.views import channels, connect

app_name = "channels_app"

urlpatterns = [
    path("channels/", channels.channel_list, name="channel_list"),
    path("channels/connect/", connect.connect_start, name="connect_start"),
    path("channels/connect/<str:platform>/callback/", connect.connect_callback, name="connect_callback"),
    path("channels/connect/pages/<str:state>/", connect.connect_pages, name="connect_pages"),
    path("channels/<int:pk>/disconnect/", channels.channel_disconnect, name="channel_disconnect"),
    path("channels/<int:pk>/grants/", channels.channel_grants, name="channel_grants"),
]
