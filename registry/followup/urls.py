from django.urls import path
from django.views.generic import TemplateView

app_name = "followup"
# Placeholder until the follow-up engine lands.
urlpatterns = [path("worklist/", TemplateView.as_view(template_name="base.html"), name="worklist")]
