from django.urls import path

from registry.patients import views

app_name = "patients"
# Only pks and vocabulary values appear in these URLs, never names, MRNs or dates of birth.
urlpatterns = [
    path("patients/", views.patient_list, name="list"),
    path("patients/<int:pk>/", views.patient_detail, name="detail"),
    path("patients/<int:pk>/edit/", views.patient_edit, name="edit"),
    path("patients/<int:pk>/consent/", views.patient_consent, name="consent"),
    path("patients/<int:pk>/withdraw/", views.patient_withdraw, name="withdraw"),
    path("patients/<int:pk>/deceased/", views.patient_deceased, name="deceased"),
]
