from django.apps import AppConfig


class RollupsConfig(AppConfig):
    name = "registry.rollups"
    label = "rollups"
    verbose_name = "Report rollups (sufficient statistics)"
