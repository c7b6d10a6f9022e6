from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate


class FollowupConfig(AppConfig):
    name = "registry.followup"
    label = "followup"

    def ready(self) -> None:
        from registry.core import events
        from registry.core.navigation import register_counter
        from registry.followup import integrity, receivers, selectors

        events.procedure_recorded.connect(receivers.on_procedure_recorded, dispatch_uid="followup.recorded")
        events.procedure_changed.connect(receivers.on_procedure_changed, dispatch_uid="followup.changed")
        events.patient_contact_stopped.connect(receivers.on_contact_stopped, dispatch_uid="followup.stopped")
        events.patient_consented.connect(receivers.on_patient_consented, dispatch_uid="followup.consented")
        register_counter("worklist", selectors.worklist_open_count)
        pre_migrate.connect(integrity.drop_sqlite_triggers, sender=self, dispatch_uid="followup.sqlite_triggers_off")
        post_migrate.connect(integrity.create_sqlite_triggers, sender=self, dispatch_uid="followup.sqlite_triggers_on")
