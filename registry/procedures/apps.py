from django.apps import AppConfig


class ProceduresConfig(AppConfig):
    name = "registry.procedures"
    label = "procedures"
