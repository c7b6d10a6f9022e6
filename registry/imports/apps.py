from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "registry.imports"
    label = "imports"
    verbose_name = "Legacy import and identified export"
