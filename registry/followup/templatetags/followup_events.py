"""``{% followup_events_of patient as events %}``: the patient page's events with their message states."""

from django import template

from registry.followup import selectors

register = template.Library()


@register.simple_tag
def followup_events_of(patient):
    # The page got ``patient`` through registry.access already; this reads only that patient's rows.
    return selectors.patient_events(patient=patient)
