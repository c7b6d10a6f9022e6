"""Query filters. Only pseudonyms, ids, vocabulary values and dates: never a name, MRN or date of
birth (those would end up in URLs, proxies and logs); search by those through POST
``/api/patients/search/``.

Every filter by another record's id chooses among the records the user may see
(``ScopedChoiceFilter``): another site's existing id gets the same "not a valid choice" answer as
an id that does not exist, so a filter cannot be used to learn which ids exist elsewhere.
"""

from __future__ import annotations

import django_filters as filters

from registry import access
from registry.followup.models import EventStatus, FollowUpEvent, SurveyResponse, WorklistItem
from registry.patients.models import BoneHealthAction, Patient
from registry.procedures.models import (
    CementLeak,
    Complication,
    Procedure,
    TreatedLevel,
    VertebralLevel,
    normalise_lot_number,
)


class ScopedChoiceFilter(filters.ModelChoiceFilter):
    """An id filter over ``model`` rows of the requesting user's sites only."""

    def __init__(self, model, site_field="site", **kwargs):
        def visible(request):
            if request is None:  # schema generation
                return model.objects.none()
            return access.scope_to_sites(model.objects.all(), request.user, site_field=site_field)

        super().__init__(queryset=visible, **kwargs)


def patient_filter(**kwargs) -> ScopedChoiceFilter:
    return ScopedChoiceFilter(Patient, **kwargs)


def procedure_filter(**kwargs) -> ScopedChoiceFilter:
    return ScopedChoiceFilter(Procedure, **kwargs)


class SiteCodeFilter(filters.CharFilter):
    def __init__(self, field_name="site__code", **kwargs):
        kwargs.setdefault("label", "Site code, e.g. TOL")
        super().__init__(field_name=field_name, **kwargs)


class PatientFilter(filters.FilterSet):
    site = SiteCodeFilter()
    study_id = filters.CharFilter(field_name="study_id", label="Study id, e.g. TOL-000123")
    deceased = filters.BooleanFilter(field_name="deceased_on", lookup_expr="isnull", exclude=True)
    registered_after = filters.DateFilter(field_name="created_at", lookup_expr="date__gte")

    class Meta:
        model = Patient
        fields = ["site", "study_id", "sex", "consent_status", "contact_opt_out", "preferred_language"]


class ProcedureFilter(filters.FilterSet):
    site = SiteCodeFilter()
    patient = patient_filter()
    study_id = filters.CharFilter(field_name="patient__study_id")
    performed_after = filters.DateFilter(field_name="performed_on", lookup_expr="gte")
    performed_before = filters.DateFilter(field_name="performed_on", lookup_expr="lte")

    class Meta:
        model = Procedure
        fields = ["site", "patient", "study_id", "procedure_type", "indication", "setting"]


class TreatedLevelFilter(filters.FilterSet):
    level = filters.ChoiceFilter(choices=[(level.name, level.name) for level in VertebralLevel], method="by_level")
    lot_number = filters.CharFilter(method="by_lot", label="Lot number (any case, spaces or dashes)")
    procedure = procedure_filter()
    study_id = filters.CharFilter(field_name="procedure__patient__study_id")

    class Meta:
        model = TreatedLevel
        fields = ["procedure", "study_id", "approach", "level", "lot_number"]

    def by_level(self, queryset, name, value):
        return queryset.filter(level=int(VertebralLevel[value]))

    def by_lot(self, queryset, name, value):
        return queryset.filter(cement_lot__lot_number_normalised=normalise_lot_number(value))


class LeakFilter(filters.FilterSet):
    procedure = procedure_filter(field_name="treated_level__procedure")
    treated_level = ScopedChoiceFilter(TreatedLevel, site_field="procedure__site")

    class Meta:
        model = CementLeak
        fields = ["treated_level", "procedure", "location", "detected_by", "symptomatic"]


class ComplicationFilter(filters.FilterSet):
    patient = patient_filter()
    procedure = procedure_filter()
    onset_after = filters.DateFilter(field_name="onset_on", lookup_expr="gte")
    onset_before = filters.DateFilter(field_name="onset_on", lookup_expr="lte")

    class Meta:
        model = Complication
        fields = ["patient", "procedure", "complication_type", "severity", "outcome", "symptomatic"]


class FollowUpEventFilter(filters.FilterSet):
    site = SiteCodeFilter()
    patient = patient_filter()
    procedure = procedure_filter()
    status = filters.MultipleChoiceFilter(choices=EventStatus.choices)
    closes_after = filters.DateFilter(field_name="window_closes_on", lookup_expr="gte")
    closes_before = filters.DateFilter(field_name="window_closes_on", lookup_expr="lte")

    class Meta:
        model = FollowUpEvent
        fields = ["site", "patient", "procedure", "event_code", "status"]


class SurveyResponseFilter(filters.FilterSet):
    patient = patient_filter()
    procedure = procedure_filter()
    event = ScopedChoiceFilter(FollowUpEvent)
    collected_after = filters.DateFilter(field_name="collected_on", lookup_expr="gte")
    collected_before = filters.DateFilter(field_name="collected_on", lookup_expr="lte")

    class Meta:
        model = SurveyResponse
        fields = ["patient", "procedure", "event", "event_code", "source"]


class BoneHealthActionFilter(filters.FilterSet):
    patient = patient_filter()
    procedure = procedure_filter()
    due_before = filters.DateFilter(field_name="due_on", lookup_expr="lte")

    class Meta:
        model = BoneHealthAction
        fields = ["patient", "procedure", "kind", "status"]


class WorklistItemFilter(filters.FilterSet):
    site = SiteCodeFilter()
    patient = patient_filter()
    due_before = filters.DateFilter(field_name="due_on", lookup_expr="lte")

    class Meta:
        model = WorklistItem
        fields = ["site", "patient", "kind", "status"]
