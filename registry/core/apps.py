from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "registry.core"
    label = "core"
    verbose_name = "Registry core"

    def ready(self) -> None:
        from registry.core import append_only

        post_migrate.connect(append_only.reprotect_sqlite, sender=self, dispatch_uid="core.reprotect_sqlite")
