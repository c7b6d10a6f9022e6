"""REST endpoints: thin adapters from HTTP to the selectors and services the screens use.

Every ``get_queryset`` is scoped with ``registry.access`` (another site's id → 404). Every write
goes through a service with ``acting_user=request.user``, so the audit trail records the token's
or session's user, and answers 400 with per-field messages (``registry/api/errors.py``).
"""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from knox import views as knox_views
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from registry import access
from registry.api import filters, schema
from registry.api import serializers as s
from registry.api.authentication import ThrottledTokenAuthentication
from registry.api.errors import api_exception_handler
from registry.api.permissions import IdentifiedAccess
from registry.core.audit import access_log_record
from registry.core.models import AccessKind
from registry.followup import services as followup_services
from registry.followup.models import FollowUpEvent, OutboundMessage, SurveyResponse, WorklistItem
from registry.imports import services as import_services
from registry.imports.reading import UnreadableFile, read_upload
from registry.imports.selectors import import_mapping_for
from registry.patients import selectors as patient_selectors
from registry.patients import services as patient_services
from registry.patients.models import BoneHealthAction, Patient
from registry.procedures import services as procedure_services
from registry.procedures.models import CementLeak, CementProduct, Complication, Procedure, TreatedLevel

LIST_ERRORS = {404: schema.NOT_FOUND}


class RegistryViewSet(viewsets.GenericViewSet):
    # Token first: an anonymous client is told (401, WWW-Authenticate: Token) how to authenticate.
    authentication_classes = [ThrottledTokenAuthentication, SessionAuthentication]
    permission_classes = [IdentifiedAccess]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    site_field = "site"

    def get_exception_handler(self):
        return api_exception_handler

    def scoped(self, queryset):
        return access.scope_to_sites(queryset, self.request.user, site_field=self.site_field)

    def valid(self, serializer_class, **kwargs) -> dict:
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context(), **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def answer(self, instance, status_code=status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(instance).data, status=status_code)


class ReadOnly(mixins.ListModelMixin, mixins.RetrieveModelMixin, RegistryViewSet):
    # Identified records: every read is noted in the access log (not so the site list and catalogue).
    access_logged = True

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        if self.access_logged and response.status_code == status.HTTP_200_OK:
            self.log_list(response)
        return response

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        if self.access_logged:
            access_log_record(
                user=request.user,
                kind=AccessKind.API_RECORD,
                site_id=access.site_id_of(instance, self.site_field),
                record=instance,
            )
        return Response(self.get_serializer(instance).data)

    def log_list(self, response) -> None:
        results = response.data.get("results", ()) if isinstance(response.data, dict) else response.data
        access_log_record(
            user=self.request.user, kind=AccessKind.API_LIST, record_type=f"api.{self.basename}", rows=len(results)
        )


# --- Sites and catalogue ----------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(summary="Sites whose identified data you may see"))
class SiteViewSet(ReadOnly):
    access_logged = False
    serializer_class = s.SiteSerializer
    ordering_fields = ["code", "name"]
    filterset_fields = ["code"]

    def get_queryset(self):
        return access.sites_for_user(self.request.user).order_by("code")


@extend_schema_view(list=extend_schema(summary="The cement catalogue (product ids for recording levels)"))
class CementProductViewSet(ReadOnly):
    access_logged = False
    serializer_class = s.CementProductSerializer
    ordering_fields = ["manufacturer", "brand"]
    filterset_fields = ["gtin", "material"]

    def get_queryset(self):
        return CementProduct.objects.filter(active=True).order_by("manufacturer", "brand")


# --- Patients -----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Patients of your sites"),
    retrieve=extend_schema(responses={200: s.PatientSerializer, **LIST_ERRORS}),
    create=extend_schema(
        summary="Register a patient (the study id is assigned)",
        request=s.PatientCreateSerializer,
        responses={201: s.PatientSerializer, **schema.WRITE_ERRORS},
        examples=[schema.PATIENT_EXAMPLE],
    ),
    partial_update=extend_schema(
        summary="Change demographics, risk factors, bone health or oncology",
        request=s.PatientUpdateSerializer,
        responses={200: s.PatientSerializer, **schema.WRITE_ERRORS},
    ),
)
class PatientViewSet(ReadOnly):
    serializer_class = s.PatientSerializer
    filterset_class = filters.PatientFilter
    ordering_fields = ["study_id", "created_at", "updated_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return self.scoped(Patient.objects.select_related("site")).order_by("-id")

    def create(self, request):
        data = dict(self.valid(s.PatientCreateSerializer))
        site = data.pop("site")
        patient = patient_services.patient_register(site=site, acting_user=request.user, data=data)
        return self.answer(patient, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        patient = self.get_object()
        data = self.valid(s.PatientUpdateSerializer, partial=True)
        patient = patient_services.patient_update(patient=patient, acting_user=request.user, data=dict(data))
        return self.answer(patient)

    @extend_schema(
        summary="Search by study id, MRN or name (in the body, never in the URL)",
        request=s.PatientSearchSerializer,
        responses={200: s.PatientSerializer(many=True), 400: schema.VALIDATION_ERROR},
    )
    @action(detail=False, methods=["post"])
    def search(self, request):
        query = self.valid(s.PatientSearchSerializer)["query"]
        patients = patient_selectors.patient_list_for_user(user=request.user, query=query)
        page = self.paginate_queryset(patients)
        response = self.get_paginated_response(self.get_serializer(page, many=True).data)
        self.log_list(response)
        return response

    @extend_schema(
        summary="Record a consent decision (withdrawal stops all contact)",
        request=s.ConsentSerializer,
        responses={200: s.PatientSerializer, **schema.WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def consent(self, request, pk=None):
        patient = self.get_object()
        data = self.valid(s.ConsentSerializer)
        patient_services.consent_record(patient=patient, acting_user=request.user, **data)
        return self.answer(self.get_queryset().get(pk=patient.pk))

    @extend_schema(
        summary="Record the patient's death (stops all contact)",
        request=s.DeceasedSerializer,
        responses={200: s.PatientSerializer, **schema.WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def deceased(self, request, pk=None):
        patient = self.get_object()
        data = self.valid(s.DeceasedSerializer)
        patient = patient_services.patient_mark_deceased(
            patient=patient, acting_user=request.user, deceased_on=data["deceased_on"]
        )
        return self.answer(patient)


# --- Procedures and their records ------------------------------------------------------------------


def _level_row(data: dict) -> dict:
    """A level as ``procedure_record`` and ``treated_level_*`` take it (product + lot number)."""
    row = dict(data)
    if "cement_product" in row:
        row["product"] = row.pop("cement_product")
    row.pop("confirm", None)
    row.pop("procedure", None)
    return row


@extend_schema_view(
    list=extend_schema(summary="Procedures of your sites, with their levels, leaks and complications"),
    retrieve=extend_schema(responses={200: s.ProcedureSerializer, **LIST_ERRORS}),
    create=extend_schema(
        summary="Record a session with its levels, leaks and complications (all or nothing)",
        request=s.ProcedureCreateSerializer,
        responses={201: s.ProcedureSerializer, **schema.WRITE_ERRORS},
        examples=[schema.PROCEDURE_EXAMPLE],
    ),
    partial_update=extend_schema(
        summary="Change a session (a new date or type re-plans follow-up)",
        request=s.ProcedureUpdateSerializer,
        responses={200: s.ProcedureSerializer, **schema.WRITE_ERRORS},
    ),
)
class ProcedureViewSet(ReadOnly):
    serializer_class = s.ProcedureSerializer
    filterset_class = filters.ProcedureFilter
    ordering_fields = ["performed_on", "created_at", "id"]

    def get_queryset(self):
        levels = TreatedLevel.objects.select_related("cement_lot").prefetch_related("leaks").order_by("level")
        return (
            self.scoped(Procedure.objects.select_related("site", "patient"))
            .prefetch_related(Prefetch("levels", queryset=levels), "complications")
            .order_by("-performed_on", "-id")
        )

    def create(self, request):
        data = dict(self.valid(s.ProcedureCreateSerializer))
        patient, confirm = data.pop("patient"), data.pop("confirm")
        levels = [_level_row(row) for row in data.pop("levels")]
        complications = data.pop("complications")
        procedure = procedure_services.procedure_record(
            patient=patient,
            acting_user=request.user,
            data=data,
            levels=levels,
            complications=complications,
            confirm=confirm,
        )
        return self.answer(self.get_queryset().get(pk=procedure.pk), status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        procedure = self.get_object()
        data = dict(self.valid(s.ProcedureUpdateSerializer, partial=True))
        confirm = data.pop("confirm", False)
        procedure_services.procedure_update(procedure=procedure, acting_user=request.user, data=data, confirm=confirm)
        return self.answer(self.get_queryset().get(pk=procedure.pk))


@extend_schema_view(
    retrieve=extend_schema(responses={200: s.TreatedLevelSerializer, **LIST_ERRORS}),
    create=extend_schema(
        summary="Add a treated level to a session",
        request=s.TreatedLevelCreateSerializer,
        responses={201: s.TreatedLevelSerializer, **schema.WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        request=s.TreatedLevelUpdateSerializer, responses={200: s.TreatedLevelSerializer, **schema.WRITE_ERRORS}
    ),
    destroy=extend_schema(
        summary="Remove a level entered by mistake (with its leaks; audited)",
        responses={204: None, 403: schema.FORBIDDEN, 404: schema.NOT_FOUND},
    ),
)
class TreatedLevelViewSet(ReadOnly):
    serializer_class = s.TreatedLevelSerializer
    filterset_class = filters.TreatedLevelFilter
    ordering_fields = ["level", "id"]
    site_field = "procedure__site"

    def get_queryset(self):
        return (
            self.scoped(TreatedLevel.objects.select_related("cement_lot", "procedure"))
            .prefetch_related("leaks")
            .order_by("procedure_id", "level")
        )

    def create(self, request):
        data = dict(self.valid(s.TreatedLevelCreateSerializer))
        procedure, confirm = data["procedure"], data.get("confirm", False)
        level = procedure_services.treated_level_add(
            procedure=procedure, acting_user=request.user, data=_level_row(data), confirm=confirm
        )
        return self.answer(self.get_queryset().get(pk=level.pk), status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        level = self.get_object()
        data = dict(self.valid(s.TreatedLevelUpdateSerializer, partial=True))
        confirm = data.get("confirm", False)
        row = _level_row(data)
        if "product" not in row:
            row["cement_lot"] = level.cement_lot
        procedure_services.treated_level_update(
            treated_level=level, acting_user=request.user, data=row, confirm=confirm
        )
        return self.answer(self.get_queryset().get(pk=level.pk))

    def destroy(self, request, pk=None):
        procedure_services.treated_level_remove(treated_level=self.get_object(), acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    retrieve=extend_schema(responses={200: s.CementLeakSerializer, **LIST_ERRORS}),
    create=extend_schema(
        summary="Add a cement leak to a treated level",
        request=s.LeakWriteSerializer,
        responses={201: s.CementLeakSerializer, **schema.WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        request=s.LeakUpdateSerializer, responses={200: s.CementLeakSerializer, **schema.WRITE_ERRORS}
    ),
    destroy=extend_schema(responses={204: None, 403: schema.FORBIDDEN, 404: schema.NOT_FOUND}),
)
class CementLeakViewSet(ReadOnly):
    serializer_class = s.CementLeakSerializer
    filterset_class = filters.LeakFilter
    ordering_fields = ["id"]
    site_field = "treated_level__procedure__site"

    def get_queryset(self):
        return self.scoped(CementLeak.objects.select_related("treated_level__procedure")).order_by("id")

    def create(self, request):
        data = dict(self.valid(s.LeakWriteSerializer))
        treated_level = data.pop("treated_level")
        leak = procedure_services.leak_add(treated_level=treated_level, acting_user=request.user, data=data)
        return self.answer(leak, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        leak = self.get_object()
        data = dict(self.valid(s.LeakUpdateSerializer, partial=True))
        leak = procedure_services.leak_update(leak=leak, acting_user=request.user, data=data)
        return self.answer(leak)

    def destroy(self, request, pk=None):
        procedure_services.leak_remove(leak=self.get_object(), acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    retrieve=extend_schema(responses={200: s.ComplicationSerializer, **LIST_ERRORS}),
    create=extend_schema(
        summary="Report an adverse event of a session",
        request=s.ComplicationWriteSerializer,
        responses={201: s.ComplicationSerializer, **schema.WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        request=s.ComplicationUpdateSerializer, responses={200: s.ComplicationSerializer, **schema.WRITE_ERRORS}
    ),
)
class ComplicationViewSet(ReadOnly):
    serializer_class = s.ComplicationSerializer
    filterset_class = filters.ComplicationFilter
    ordering_fields = ["onset_on", "id"]
    site_field = "procedure__site"

    def get_queryset(self):
        return self.scoped(Complication.objects.select_related("procedure")).order_by("onset_on", "id")

    def create(self, request):
        data = dict(self.valid(s.ComplicationWriteSerializer))
        procedure = data.pop("procedure")
        complication = procedure_services.complication_report(procedure=procedure, acting_user=request.user, data=data)
        return self.answer(complication, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        complication = self.get_object()
        data = dict(self.valid(s.ComplicationUpdateSerializer, partial=True))
        complication = procedure_services.complication_update(
            complication=complication, acting_user=request.user, data=data
        )
        return self.answer(complication)


# --- Follow-up ------------------------------------------------------------------------------------------


@extend_schema_view(retrieve=extend_schema(responses={200: s.FollowUpEventSerializer, **LIST_ERRORS}))
class FollowUpEventViewSet(ReadOnly):
    serializer_class = s.FollowUpEventSerializer
    filterset_class = filters.FollowUpEventFilter
    ordering_fields = ["window_opens_on", "window_closes_on", "id"]

    def get_queryset(self):
        # The invitation's emails give each event its status label and message states (two queries).
        return self.scoped(
            FollowUpEvent.objects.select_related("site", "patient", "invitation").prefetch_related(
                Prefetch("invitation__messages", queryset=OutboundMessage.objects.order_by("due_at", "id"))
            )
        ).order_by("window_opens_on", "id")


@extend_schema_view(
    retrieve=extend_schema(responses={200: s.SurveyResponseSerializer, **LIST_ERRORS}),
    create=extend_schema(
        summary="Enter a survey collected by phone, on paper or in clinic (scored; completes its event)",
        request=s.SurveyResponseCreateSerializer,
        responses={201: s.SurveyResponseSerializer, **schema.WRITE_ERRORS},
        examples=[schema.SURVEY_EXAMPLE],
    ),
)
class SurveyResponseViewSet(ReadOnly):
    serializer_class = s.SurveyResponseSerializer
    filterset_class = filters.SurveyResponseFilter
    ordering_fields = ["collected_on", "id"]
    site_field = "patient__site"

    def get_queryset(self):
        return self.scoped(SurveyResponse.objects.select_related("patient")).order_by("collected_on", "id")

    def create(self, request):
        data = self.valid(s.SurveyResponseCreateSerializer)
        patient = data["patient"]
        access.require_data_entry(request.user, patient.site_id)
        answers = {key: value for key, value in data["answers"].items() if value is not None}
        response = followup_services.survey_response_record(
            patient=patient,
            event=data.get("event"),
            event_code=data.get("event_code") or None,
            procedure=data.get("procedure"),
            source=data["source"],
            answers=answers,
            acting_user=request.user,
            language=data["language"],
            collected_on=data.get("collected_on"),
        )
        return self.answer(response, status.HTTP_201_CREATED)


@extend_schema_view(retrieve=extend_schema(responses={200: s.BoneHealthActionSerializer, **LIST_ERRORS}))
class BoneHealthActionViewSet(ReadOnly):
    serializer_class = s.BoneHealthActionSerializer
    filterset_class = filters.BoneHealthActionFilter
    ordering_fields = ["due_on", "id"]
    site_field = "patient__site"

    def get_queryset(self):
        return self.scoped(BoneHealthAction.objects.select_related("patient")).order_by("due_on", "id")

    @extend_schema(
        summary="Record the outcome: done, declined or not applicable (reminders stop)",
        request=s.BoneHealthResolveSerializer,
        responses={200: s.BoneHealthActionSerializer, **schema.WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        bone_action = self.get_object()
        access.require_data_entry(request.user, bone_action.patient.site_id)
        data = self.valid(s.BoneHealthResolveSerializer)
        bone_action = followup_services.bone_health_action_resolve(action=bone_action, acting_user=request.user, **data)
        return self.answer(self.get_queryset().get(pk=bone_action.pk))


@extend_schema_view(retrieve=extend_schema(responses={200: s.WorklistItemSerializer, **LIST_ERRORS}))
class WorklistItemViewSet(ReadOnly):
    serializer_class = s.WorklistItemSerializer
    filterset_class = filters.WorklistItemFilter
    ordering_fields = ["due_on", "id"]

    def get_queryset(self):
        return self.scoped(WorklistItem.objects.select_related("site", "patient")).order_by("due_on", "id")

    @extend_schema(
        summary="Mark a worklist item done",
        request=s.WorklistDoneSerializer,
        responses={200: s.WorklistItemSerializer, **schema.WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def done(self, request, pk=None):
        item = self.get_object()
        access.require_data_entry(request.user, item.site_id)
        note = self.valid(s.WorklistDoneSerializer)["note"]
        followup_services.worklist_item_done(item=item, acting_user=request.user, note=note)
        return self.answer(self.get_queryset().get(pk=item.pk))


# --- Legacy import ---------------------------------------------------------------------------------------


class ImportViewSet(RegistryViewSet):
    parser_classes = [MultiPartParser, FormParser]
    serializer_class = s.ImportReportSerializer

    @extend_schema(
        summary="Preview (default) or commit a legacy case series, all or nothing",
        description=(
            "One row per treated level, in the template's columns (download it from /imports/template.xlsx). "
            "With commit=false nothing is written: the answer lists every error by row and column. With "
            "commit=true a file without errors is imported in one transaction; records that already exist "
            "(site + MRN; + procedure date and type; + level) are skipped, and reported when they differ."
        ),
        request={"multipart/form-data": s.ImportUploadSerializer},
        responses={
            200: s.ImportReportSerializer,
            201: s.ImportReportSerializer,
            400: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="The import report with ok=false and every error, or field errors of the upload.",
            ),
            403: schema.FORBIDDEN,
        },
    )
    def create(self, request):
        data = self.valid(s.ImportUploadSerializer)
        upload = data["file"]
        mapping = None
        if data.get("mapping"):
            mapping = import_mapping_for(site=data["site"], name=data["mapping"])
            if mapping is None:
                return Response(
                    {"mapping": ["No mapping of this name for the site."]}, status=status.HTTP_400_BAD_REQUEST
                )
        try:
            batch, plan = import_services.import_preview(
                site=data["site"], acting_user=request.user, name=upload.name, data=read_upload(upload), mapping=mapping
            )
        except UnreadableFile as exc:
            return Response({"file": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        committed = False
        if plan.ok and data["commit"]:
            try:
                plan = import_services.import_commit(batch=batch, acting_user=request.user)
                committed = True
            except UnreadableFile as exc:
                return Response({"file": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
            except import_services.ImportRejected as exc:
                plan = exc.plan
        report = {**plan.as_dict(), "committed": committed, "batch": batch.pk}
        code = status.HTTP_201_CREATED if committed else status.HTTP_200_OK if plan.ok else status.HTTP_400_BAD_REQUEST
        return Response(report, status=code)


# --- API tokens: a client revokes its own token, or all of its user's tokens ------------------


@extend_schema(tags=["tokens"], request=None, responses={204: None})
class TokenRevokeView(knox_views.LogoutView):
    """Revoke the token this request is authenticated with; it stops working at once."""

    authentication_classes = [ThrottledTokenAuthentication]


@extend_schema(tags=["tokens"], request=None, responses={204: None})
class TokenRevokeAllView(knox_views.LogoutAllView):
    """Revoke every token of this request's user (for example after a token leaked)."""

    authentication_classes = [ThrottledTokenAuthentication]
