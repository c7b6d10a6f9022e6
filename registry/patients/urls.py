from django.urls import path
from django.views.generic import TemplateView

app_name = "patients"
# Placeholder until the case-capture screens land.
urlpatterns = [path("patients/", TemplateView.as_view(template_name="base.html"), name="list")]
