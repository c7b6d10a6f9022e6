from django import template

from registry import access
from registry.fractures import selectors

register = template.Library()


@register.inclusion_tag("fractures/_patient_fractures.html", takes_context=True)
def patient_fractures(context, patient):
    """The patient page's section; the page got ``patient`` through the access door."""
    user = context["request"].user
    return {
        "patient": patient,
        "fractures": list(selectors.patient_fractures(patient=patient)),
        "reinterventions": list(selectors.patient_reinterventions(patient=patient)),
        "treated_levels": list(selectors.patient_treated_levels(patient=patient)),
        "audit": selectors.patient_fracture_audit(patient=patient),
        "can_enter": access.can_enter_data(user, patient.site_id),
    }
