from django.urls import path

from notes import views

urlpatterns = [
    path("notes/", views.notes),
    path("form/", views.form),
    path("stream/", views.stream),
    path("download/", views.download),
    path("upload/", views.upload),
    path("boom/", views.boom),
    path("slow/", views.slow),
    path("spin/", views.spin),
]
