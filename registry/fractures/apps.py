from django.apps import AppConfig


class FracturesConfig(AppConfig):
    name = "registry.fractures"
    label = "fractures"
    verbose_name = "New fractures and re-treatment"

    def ready(self) -> None:
        from registry.core import events
        from registry.fractures import receivers

        events.survey_response_recorded.connect(
            receivers.on_survey_response_recorded, dispatch_uid="fractures.response_recorded"
        )
        events.procedure_recorded.connect(receivers.on_procedure_recorded, dispatch_uid="fractures.procedure_recorded")
