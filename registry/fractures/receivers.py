"""Receivers of registry.core.events: thin, they call the services (signals arrive after commit)."""

from __future__ import annotations

from registry.fractures import services


def on_survey_response_recorded(sender, response_id: int, new_fracture: bool | None = None, **kwargs) -> None:
    if new_fracture is True:
        services.fracture_screen_open(response_id=response_id)


def on_procedure_recorded(sender, procedure_id: int, **kwargs) -> None:
    services.reaugmentations_detect(procedure_id=procedure_id)
