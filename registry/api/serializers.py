"""Serializers: parse and convert only; the rules live in the services they feed (STYLE.md item 1).

The read serializers (``*Serializer``) are only ever used for output; their fields are not
marked read-only because DRF then drops ``allow_blank`` and the schema would not admit the empty
choice that blank vocabulary fields hold.

Read serializers show what a site's coordinator sees on the screens. Write serializers check types,
vocabularies and field ranges (the model validators), then the views hand ``validated_data`` to
the services, which check everything else and audit the change.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry import access
from registry.core.models import FREE_TEXT_MAX_LENGTH
from registry.core.numbers import DecimalCommaSerializerField
from registry.followup import lifecycle
from registry.followup.models import FollowUpEvent, MessageKind, ResponseSource, SurveyResponse, WorklistItem
from registry.followup.scoring import ODI_SECTIONS, RED_FLAG_CODES
from registry.followup.services import BONE_HEALTH_OUTCOMES
from registry.patients.models import BoneHealthAction, ConsentStatus, Patient, Site
from registry.patients.services import CONSENT_FIELDS, PATIENT_EDITABLE_FIELDS
from registry.procedures.models import (
    CementLeak,
    CementProduct,
    Complication,
    Procedure,
    TreatedLevel,
    VertebralLevel,
)
from registry.procedures.services import PROCEDURE_EDITABLE_FIELDS

LEVEL_CODES = [level.name for level in VertebralLevel]
# Named choice sets for the schema (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
BONE_HEALTH_OUTCOME_CHOICES = [(status.value, status.label) for status in BONE_HEALTH_OUTCOMES]
THERAPY_ANSWER_CHOICES = ["yes", "no", "not_prescribed", "not_sure"]


class LevelCodeField(serializers.ChoiceField):
    """A vertebral level as its code (``L1``); stored as the ordinal (L1 = 20) that adjacency uses."""

    def __init__(self, **kwargs):
        super().__init__(choices=LEVEL_CODES, **kwargs)

    def to_internal_value(self, data):
        return int(VertebralLevel[super().to_internal_value(data)])

    def to_representation(self, value):
        return VertebralLevel(value).name if value is not None else None


def _scoped(queryset, request, site_field: str):
    user = getattr(request, "user", None)
    return access.scope_to_sites(queryset, user, site_field=site_field) if user else queryset.none()


class ScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """An id of the caller's sites only: another site's id reads as "does not exist"."""

    def __init__(self, *, site_field: str = "site", **kwargs):
        self.site_field = site_field
        super().__init__(**kwargs)

    def get_queryset(self):
        return _scoped(super().get_queryset(), self.context.get("request"), self.site_field)


class EntrySiteField(serializers.SlugRelatedField):
    """A site by code, among the sites the caller may enter data for."""

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", queryset=Site.objects.all(), **kwargs)

    def to_internal_value(self, data):
        # PostgreSQL refuses a NUL in a query parameter (a 500): no site code holds one.
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data.replace("\x00", ""))
        return super().to_internal_value(data)

    def get_queryset(self):
        request = self.context.get("request")
        return access.data_entry_sites(request.user) if request else Site.objects.none()


# --- Sites and catalogue --------------------------------------------------------------------------


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "code", "name", "time_zone", "contact_email", "contact_phone", "active"]


class CementProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = CementProduct
        fields = ["id", "manufacturer", "brand", "material", "gtin", "default_viscosity"]


# --- Patients ---------------------------------------------------------------------------------------


class PatientSerializer(serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "study_id",
            "site",
            *PATIENT_EDITABLE_FIELDS,
            *CONSENT_FIELDS,
            "contact_opt_out",
            "deceased_on",
            "created_at",
            "updated_at",
        ]


class PatientCreateSerializer(serializers.ModelSerializer):
    site = EntrySiteField()

    class Meta:
        model = Patient
        fields = ["site", *PATIENT_EDITABLE_FIELDS, *CONSENT_FIELDS]
        # The service checks MRN uniqueness (with a message naming the field) and consent dates.
        validators: list = []


class PatientUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = list(PATIENT_EDITABLE_FIELDS)
        validators: list = []


class PatientSearchSerializer(serializers.Serializer):
    query = serializers.CharField(
        max_length=200, help_text=_("Study id, MRN (exact) or name words. Sent in the body: never put PHI in a URL.")
    )


class ConsentSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ConsentStatus.choices)
    effective_on = serializers.DateField()
    form_version = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=FREE_TEXT_MAX_LENGTH)


class DeceasedSerializer(serializers.Serializer):
    deceased_on = serializers.DateField()


# --- Procedures, levels, leaks, complications -----------------------------------------------------


class CementLeakSerializer(serializers.ModelSerializer):
    location_group = serializers.CharField(read_only=True)

    class Meta:
        model = CementLeak
        fields = [
            "id",
            "treated_level",
            "location",
            "location_group",
            "pathway",
            "size_grade",
            "detected_by",
            "symptomatic",
            "complication",
        ]


class TreatedLevelSerializer(serializers.ModelSerializer):
    level = LevelCodeField(read_only=True)
    level_ordinal = serializers.IntegerField(source="level", read_only=True)
    cement_product = serializers.IntegerField(source="cement_lot.product_id", read_only=True)
    lot_number = serializers.CharField(source="cement_lot.lot_number", read_only=True)
    lot_expires_on = serializers.DateField(source="cement_lot.expires_on", read_only=True, allow_null=True)
    fill_percent = serializers.DecimalField(max_digits=6, decimal_places=1, read_only=True, allow_null=True)
    leaks = CementLeakSerializer(many=True, read_only=True)

    class Meta:
        model = TreatedLevel
        fields = [
            "id",
            "procedure",
            "level",
            "level_ordinal",
            "approach",
            "needle_gauge",
            "cement_product",
            "lot_number",
            "lot_expires_on",
            "viscosity",
            "injection_phase",
            "cement_volume_ml",
            "vertebral_body_volume_cc",
            "fill_percent",
            "height_loss_percent",
            "kyphotic_angle_deg",
            "posterior_wall_intact",
            "intravertebral_cleft",
            "balloon_inflated",
            "height_restored",
            "leaks",
        ]


class ComplicationSerializer(serializers.ModelSerializer):
    is_major = serializers.BooleanField(read_only=True)

    class Meta:
        model = Complication
        fields = [
            "id",
            "patient",
            "procedure",
            "treated_level",
            "onset_on",
            "found_at",
            "complication_type",
            "severity",
            "is_major",
            "symptomatic",
            "management",
            "outcome",
            "resolved_on",
            "description",
            "signed_off_at",
        ]


class ProcedureSerializer(serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    study_id = serializers.CharField(source="patient.study_id", read_only=True)
    levels = TreatedLevelSerializer(many=True, read_only=True)
    complications = ComplicationSerializer(many=True, read_only=True)

    class Meta:
        model = Procedure
        fields = [
            "id",
            "patient",
            "study_id",
            "site",
            *PROCEDURE_EDITABLE_FIELDS,
            "levels",
            "complications",
            "created_at",
            "updated_at",
        ]


_LEVEL_INPUT_FIELDS = [
    "approach",
    "needle_gauge",
    "viscosity",
    "injection_phase",
    "cement_volume_ml",
    "vertebral_body_volume_cc",
    "height_loss_percent",
    "kyphotic_angle_deg",
    "posterior_wall_intact",
    "intravertebral_cleft",
    "balloon_inflated",
    "height_restored",
]


class _CementInput(serializers.Serializer):
    """The cement of a level: the catalogue product and the lot number printed on the kit."""

    cement_product = serializers.PrimaryKeyRelatedField(queryset=CementProduct.objects.filter(active=True))
    lot_number = serializers.CharField(max_length=40)
    lot_expires_on = serializers.DateField(required=False, allow_null=True)


class LeakInputSerializer(serializers.ModelSerializer):
    complication_index = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        help_text=_("Position (from 0) in this request's complications of the complication a symptomatic leak caused."),
    )

    class Meta:
        model = CementLeak
        fields = ["location", "pathway", "size_grade", "detected_by", "symptomatic", "complication_index"]


class LevelInputSerializer(_CementInput, serializers.ModelSerializer):
    level = LevelCodeField()
    leaks = LeakInputSerializer(many=True, required=False, default=list)

    class Meta:
        model = TreatedLevel
        fields = ["level", *_LEVEL_INPUT_FIELDS, "cement_product", "lot_number", "lot_expires_on", "leaks"]
        validators: list = []


COMPLICATION_FIELDS = [
    "onset_on",
    "found_at",
    "complication_type",
    "severity",
    "symptomatic",
    "management",
    "outcome",
    "resolved_on",
    "description",
]


class ComplicationInputSerializer(serializers.ModelSerializer):
    level = LevelCodeField(required=False, allow_null=True, help_text=_("The treated level it concerns, if any."))

    class Meta:
        model = Complication
        fields = ["level", *COMPLICATION_FIELDS]
        validators: list = []


class ConfirmField(serializers.BooleanField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", False)
        kwargs.setdefault(
            "help_text",
            _("Send true after reading the warnings of a 400 answer with confirmation_required, to save anyway."),
        )
        super().__init__(**kwargs)


class ProcedureCreateSerializer(serializers.ModelSerializer):
    patient = ScopedPrimaryKeyField(queryset=Patient.objects.all())
    levels = LevelInputSerializer(many=True, allow_empty=False)
    complications = ComplicationInputSerializer(many=True, required=False, default=list)
    confirm = ConfirmField()

    class Meta:
        model = Procedure
        fields = ["patient", *PROCEDURE_EDITABLE_FIELDS, "levels", "complications", "confirm"]
        validators: list = []


class ProcedureUpdateSerializer(serializers.ModelSerializer):
    confirm = ConfirmField()

    class Meta:
        model = Procedure
        fields = [*PROCEDURE_EDITABLE_FIELDS, "confirm"]
        validators: list = []


class TreatedLevelCreateSerializer(LevelInputSerializer):
    procedure = ScopedPrimaryKeyField(queryset=Procedure.objects.all())
    confirm = ConfirmField()
    # Leaks of an existing level are added through /api/leaks/.
    leaks = None

    class Meta(LevelInputSerializer.Meta):
        fields = [
            "procedure",
            "level",
            *_LEVEL_INPUT_FIELDS,
            "cement_product",
            "lot_number",
            "lot_expires_on",
            "confirm",
        ]


class TreatedLevelUpdateSerializer(TreatedLevelCreateSerializer):
    """Every field optional; give the product and lot number together to change the cement."""

    procedure = None

    class Meta(TreatedLevelCreateSerializer.Meta):
        fields = ["level", *_LEVEL_INPUT_FIELDS, "cement_product", "lot_number", "lot_expires_on", "confirm"]

    def validate(self, attrs):
        if ("cement_product" in attrs) != ("lot_number" in attrs):
            raise serializers.ValidationError(
                {"lot_number": _("Give the cement product and the lot number together to change the cement.")}
            )
        return attrs


class LeakWriteSerializer(serializers.ModelSerializer):
    treated_level = ScopedPrimaryKeyField(queryset=TreatedLevel.objects.all(), site_field="procedure__site")
    complication = ScopedPrimaryKeyField(
        queryset=Complication.objects.all(), site_field="procedure__site", required=False, allow_null=True
    )

    class Meta:
        model = CementLeak
        fields = ["treated_level", "location", "pathway", "size_grade", "detected_by", "symptomatic", "complication"]
        validators: list = []


class LeakUpdateSerializer(LeakWriteSerializer):
    treated_level = None

    class Meta(LeakWriteSerializer.Meta):
        fields = ["location", "pathway", "size_grade", "detected_by", "symptomatic", "complication"]


class ComplicationWriteSerializer(serializers.ModelSerializer):
    procedure = ScopedPrimaryKeyField(queryset=Procedure.objects.all())
    treated_level = ScopedPrimaryKeyField(
        queryset=TreatedLevel.objects.all(), site_field="procedure__site", required=False, allow_null=True
    )

    class Meta:
        model = Complication
        fields = ["procedure", "treated_level", *COMPLICATION_FIELDS]
        validators: list = []


class ComplicationUpdateSerializer(ComplicationWriteSerializer):
    procedure = None

    class Meta(ComplicationWriteSerializer.Meta):
        fields = ComplicationWriteSerializer.Meta.fields[1:]


# --- Follow-up ----------------------------------------------------------------------------------------


class OutboundMessageStateSerializer(serializers.Serializer):
    """One email of an event: what it is and what happened to it (no address)."""

    kind = serializers.CharField()
    status = serializers.CharField(help_text="pending (due), sending, sent, failed or cancelled")
    due_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(source="last_error", help_text="why it failed or was cancelled")


class FollowUpEventSerializer(serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    study_id = serializers.CharField(source="patient.study_id", read_only=True)
    status_label = serializers.SerializerMethodField(
        help_text='The status in words: "Invitation due …" until the SMTP server accepted the invitation.'
    )
    messages = serializers.SerializerMethodField()

    def _messages(self, event) -> list:
        invitation = getattr(event, "invitation", None)
        return list(invitation.messages.all()) if invitation is not None else []

    def get_status_label(self, event) -> str:
        first = next((m for m in self._messages(event) if m.kind == MessageKind.INVITATION), None)
        return lifecycle.event_status_label(event, first)

    @extend_schema_field(OutboundMessageStateSerializer(many=True))
    def get_messages(self, event) -> list:
        return OutboundMessageStateSerializer(self._messages(event), many=True).data

    class Meta:
        model = FollowUpEvent
        fields = [
            "id",
            "site",
            "patient",
            "study_id",
            "procedure",
            "event_code",
            "window_opens_on",
            "invite_on",
            "window_closes_on",
            "status",
            "status_label",
            "messages",
            "status_changed_at",
            "cancel_cause",
            "cancel_reason",
            "superseded_by",
        ]


class SurveyResponseSerializer(serializers.ModelSerializer):
    study_id = serializers.CharField(source="patient.study_id", read_only=True)

    class Meta:
        model = SurveyResponse
        fields = [
            "id",
            "patient",
            "study_id",
            "procedure",
            "event",
            "event_code",
            "source",
            "collected_on",
            "language",
            "vas",
            "odi_answers",
            "odi_percent",
            "odi_answered",
            "odi_complete",
            "karnofsky",
            "red_flag_answers",
            "red_flags",
            "new_fracture",
            "osteoporosis_therapy_taken",
            "analgesic_use",
            "followup_answers",
            "submitted_at",
        ]


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            code: {"type": "integer", "minimum": 0, "maximum": 5, "nullable": True} for code in ODI_SECTIONS
        },
        "additionalProperties": False,
    }
)
class OdiAnswersField(serializers.DictField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "properties": {code: {"type": "boolean", "nullable": True} for code in RED_FLAG_CODES},
        "additionalProperties": False,
    }
)
class RedFlagAnswersField(serializers.DictField):
    pass


class SurveyAnswersSerializer(serializers.Serializer):
    """Raw answers; ``survey_response_record`` validates and scores them (scoring.py)."""

    vas = DecimalCommaSerializerField(max_digits=3, decimal_places=1, required=False, allow_null=True)
    odi = OdiAnswersField(required=False, help_text=_("Section code → 0–5; one section may be left out."))
    karnofsky = serializers.IntegerField(required=False, allow_null=True)
    red_flags = RedFlagAnswersField(required=False)
    new_fracture = serializers.ChoiceField(choices=["yes", "no", "not_sure"], required=False)
    osteoporosis_therapy = serializers.ChoiceField(choices=THERAPY_ANSWER_CHOICES, required=False)
    analgesic_use = serializers.ChoiceField(choices=["none", "non_opioid", "opioid", "not_sure"], required=False)


class SurveyResponseCreateSerializer(serializers.Serializer):
    """Coordinator entry of a survey collected by phone, on paper or in clinic."""

    patient = ScopedPrimaryKeyField(queryset=Patient.objects.all())
    event = ScopedPrimaryKeyField(
        queryset=FollowUpEvent.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("The follow-up event answered; completes it and stops its reminders."),
    )
    event_code = serializers.SlugField(
        max_length=30, required=False, allow_blank=True, help_text=_("e.g. baseline, when there is no event.")
    )
    procedure = ScopedPrimaryKeyField(queryset=Procedure.objects.all(), required=False, allow_null=True)
    source = serializers.ChoiceField(
        choices=[(c.value, c.label) for c in ResponseSource if c != ResponseSource.LINK],
    )
    collected_on = serializers.DateField(required=False, allow_null=True)
    language = serializers.ChoiceField(choices=["en", "es"], default="en")
    answers = SurveyAnswersSerializer()


class BoneHealthActionSerializer(serializers.ModelSerializer):
    study_id = serializers.CharField(source="patient.study_id", read_only=True)

    class Meta:
        model = BoneHealthAction
        fields = [
            "id",
            "patient",
            "study_id",
            "procedure",
            "kind",
            "status",
            "due_on",
            "done_on",
            "t_score",
            "therapy",
            "note",
            "acted_by",
            "reminders_sent",
            "last_reminded_at",
        ]


class BoneHealthResolveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=BONE_HEALTH_OUTCOME_CHOICES)
    done_on = serializers.DateField(required=False, allow_null=True)
    t_score = DecimalCommaSerializerField(
        max_digits=3, decimal_places=1, min_value=-7, max_value=4, required=False, allow_null=True
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=FREE_TEXT_MAX_LENGTH)


class WorklistItemSerializer(serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    study_id = serializers.CharField(source="patient.study_id", read_only=True)

    class Meta:
        model = WorklistItem
        fields = [
            "id",
            "site",
            "patient",
            "study_id",
            "kind",
            "status",
            "due_on",
            "event",
            "bone_health_action",
            "response",
            "note",
            "done_by",
            "done_at",
            "created_at",
        ]


class WorklistDoneSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=FREE_TEXT_MAX_LENGTH)


@extend_schema_field(OpenApiTypes.OBJECT)
class AnyObjectField(serializers.JSONField):
    pass


# --- Legacy import ---------------------------------------------------------------------------------------


class ImportUploadSerializer(serializers.Serializer):
    site = EntrySiteField(help_text=_("Code of a site you coordinate."))
    file = serializers.FileField(help_text=_("CSV or Excel (.xlsx) in the template's columns, one row per level."))
    commit = serializers.BooleanField(
        default=False, help_text=_("false: preview only (nothing written). true: import all or nothing.")
    )
    mapping = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=80,
        help_text=_("Name of a mapping saved for the site: the file's columns and codes mapped onto the template."),
    )


class ImportRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text=_("Spreadsheet row; the header is row 1."))
    column = serializers.CharField()
    value = serializers.CharField(allow_blank=True)
    rule = serializers.CharField()


class ImportRowNoteSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    record = serializers.CharField()
    message = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    committed = serializers.BooleanField()
    batch = serializers.IntegerField(allow_null=True)
    summary = serializers.DictField(child=serializers.IntegerField())
    errors = ImportRowErrorSerializer(many=True)
    warnings = ImportRowNoteSerializer(many=True)
    changes = ImportRowNoteSerializer(many=True)
