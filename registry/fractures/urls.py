from django.urls import path

from registry.fractures import views

app_name = "fractures"
urlpatterns = [
    path("patients/<int:pk>/fractures/new/", views.fracture_new, name="record"),
    path("levels/<int:pk>/reoperation/", views.open_surgery_new, name="open_surgery"),
    path("review/", views.review, name="review"),
    path("review/complications/<int:pk>/", views.complication_sign_off, name="complication_sign_off"),
    path("review/fractures/<int:pk>/", views.fracture_sign_off, name="fracture_sign_off"),
]
