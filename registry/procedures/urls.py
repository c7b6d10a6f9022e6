from django.urls import path
from django.views.generic import TemplateView

app_name = "procedures"
# Placeholders until the case-capture screens land.
urlpatterns = [
    path("cases/new/", TemplateView.as_view(template_name="base.html"), name="new_case"),
    path("recall/", TemplateView.as_view(template_name="base.html"), name="lot_recall"),
]
