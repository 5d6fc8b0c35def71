from django.urls import path

from channels_app import views

app_name = "channels_app"

urlpatterns = [
    path("channels/", views.channel_list, name="channel_list"),
    path("channels/<int:pk>/disconnect/", views.channel_disconnect, name="channel_disconnect"),
]
