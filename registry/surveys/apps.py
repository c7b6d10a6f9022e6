from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "registry.surveys"
    label = "surveys"
    verbose_name = "Patient surveys"
