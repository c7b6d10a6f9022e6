from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ReportsConfig(AppConfig):
    name = "reports"
    label = "reports"

    def ready(self) -> None:
        from reports import fracture_marker

        post_migrate.connect(fracture_marker.install_sqlite, sender=self, dispatch_uid="reports.fracture_marker")
