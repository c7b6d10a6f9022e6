"""Issue #12 item 10: every write service checks its acting user itself, through registry/access.py.

Each service is called directly — as a task, a command or a future screen would, with no view in
front — by a coordinator of another site and by a reviewer of the record's own site. Each must
refuse, change nothing, and refuse in a way HTTP answers with 404 (existence does not leak).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from registry.accounts.models import Role, SiteMembership
from registry.accounts.services import site_membership_set
from registry.core.models import AccessLogEntry
from registry.followup import lifecycle
from registry.followup import services as followup_services
from registry.followup.models import SurveyResponse, WorklistItem, WorklistKind
from registry.imports.export import export_site
from registry.imports.models import ExportLog
from registry.patients import services as patient_services
from registry.patients.models import BoneHealthAction, BoneHealthActionKind, Patient
from registry.procedures import services as procedure_services
from registry.procedures.models import CementLeak, CementLot, CementProduct, Complication, Procedure, TreatedLevel
from registry.surveys.services import survey_coordinator_record
from reports.export import research_export_create
from reports.loaders import CohortFilter
from tests.api.conftest import build_case
from tests.factories import UserFactory, member

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def case_a(site_a, coordinator_a):
    product, _ = CementProduct.objects.get_or_create(manufacturer="Acme Spine", brand="VertaFix HV")
    case = build_case(site=site_a, user=coordinator_a, product=product)
    patient = case["patient"]
    # Planning gave the case its bone-health actions; one of them is what staff would resolve.
    case["bone_action"] = BoneHealthAction.objects.filter(patient=patient).first() or BoneHealthAction.objects.create(
        patient=patient, procedure=case["level"].procedure, kind=BoneHealthActionKind.DXA, due_on=yesterday()
    )
    case["worklist_item"] = lifecycle.open_worklist_item(
        kind=WorklistKind.PHONE_DUE, patient=patient, due_on=yesterday(), event=case["event"]
    )
    return case


def yesterday() -> dt.date:
    return timezone.localdate() - dt.timedelta(days=1)


def snapshot() -> dict[str, list]:
    """Everything a refused write could have touched, as plain values."""
    return {
        model.__name__: sorted(map(repr, model.objects.values_list()))
        for model in (
            Patient,
            Procedure,
            TreatedLevel,
            CementLeak,
            Complication,
            CementLot,
            SurveyResponse,
            WorklistItem,
            BoneHealthAction,
            SiteMembership,
            ExportLog,
            AccessLogEntry,
        )
    }


# Every write service of patients, procedures, follow-up (worklist, bone health), surveys
# (coordinator entry), accounts and the exports, called with a case of site A.
WRITES = {
    "patient_register": lambda c, u: patient_services.patient_register(
        site=c["patient"].site,
        acting_user=u,
        data={"mrn": "NEW-1", "given_name": "A", "family_name": "B", "date_of_birth": dt.date(1950, 1, 1)},
    ),
    "patient_update": lambda c, u: patient_services.patient_update(
        patient=c["patient"], acting_user=u, data={"phone": "600 999 999"}
    ),
    "consent_record": lambda c, u: patient_services.consent_record(
        patient=c["patient"], acting_user=u, status="declined", effective_on=yesterday()
    ),
    "consent_withdraw": lambda c, u: patient_services.consent_withdraw(
        patient=c["patient"], acting_user=u, effective_on=yesterday()
    ),
    "patient_mark_deceased": lambda c, u: patient_services.patient_mark_deceased(
        patient=c["patient"], acting_user=u, deceased_on=yesterday()
    ),
    "procedure_record": lambda c, u: procedure_services.procedure_record(
        patient=c["patient"],
        acting_user=u,
        data={
            "performed_on": yesterday(),
            "operator": "Dr X",
            "procedure_type": "PVP",
            "indication": "osteoporotic",
            "anaesthesia": "local",
            "guidance": "biplane",
        },
        levels=[{"level": 12, "cement_volume_ml": Decimal("2.0"), "cement_lot": c["level"].cement_lot}],
    ),
    "procedure_update": lambda c, u: procedure_services.procedure_update(
        procedure=c["procedure"], acting_user=u, data={"operator": "Dr X"}
    ),
    "treated_level_add": lambda c, u: procedure_services.treated_level_add(
        procedure=c["procedure"],
        acting_user=u,
        data={"level": 12, "cement_volume_ml": Decimal("2.0"), "cement_lot": c["level"].cement_lot},
    ),
    "treated_level_update": lambda c, u: procedure_services.treated_level_update(
        treated_level=c["other_level"],
        acting_user=u,
        data={"cement_volume_ml": Decimal("9.0"), "cement_lot": c["level"].cement_lot},
    ),
    "treated_level_remove": lambda c, u: procedure_services.treated_level_remove(
        treated_level=c["other_level"], acting_user=u
    ),
    "leak_add": lambda c, u: procedure_services.leak_add(
        treated_level=c["other_level"], acting_user=u, data={"location": "disc_superior", "detected_by": "fluoroscopy"}
    ),
    "leak_update": lambda c, u: procedure_services.leak_update(
        leak=c["leak"], acting_user=u, data={"symptomatic": False}
    ),
    "leak_remove": lambda c, u: procedure_services.leak_remove(leak=c["leak"], acting_user=u),
    "complication_report": lambda c, u: procedure_services.complication_report(
        procedure=c["procedure"],
        acting_user=u,
        data={"complication_type": "other", "severity": "mild", "onset_on": yesterday(), "found_at": "other"},
    ),
    "complication_update": lambda c, u: procedure_services.complication_update(
        complication=c["complication"], acting_user=u, data={"severity": "mild"}
    ),
    "survey_coordinator_record": lambda c, u: survey_coordinator_record(
        event=c["event"], questions=[], values={}, source="phone", collected_on=yesterday(), acting_user=u
    ),
    "worklist_item_done": lambda c, u: followup_services.worklist_item_done(
        item=c["worklist_item"], acting_user=u, note="Called"
    ),
    "bone_health_action_resolve": lambda c, u: followup_services.bone_health_action_resolve(
        action=c["bone_action"], acting_user=u, status="declined"
    ),
    "identified export_site": lambda c, u: export_site(site=c["patient"].site, acting_user=u, file_format="csv"),
    "research_export_create": lambda c, u: research_export_create(
        user=u, cohort=CohortFilter(site_ids=(c["patient"].site_id,)), file_format="csv"
    ),
}


@pytest.mark.parametrize("service", WRITES)
def test_another_sites_coordinator_is_refused_by_the_service_itself(service, case_a, coordinator_b):
    before = snapshot()
    with pytest.raises(Http404) as refused:
        WRITES[service](case_a, coordinator_b)
    assert isinstance(refused.value, PermissionDenied)  # callers that catch PermissionDenied still do
    assert snapshot() == before


@pytest.mark.parametrize("service", WRITES)
def test_a_reviewer_of_the_same_site_is_refused_by_the_service_itself(service, case_a, reviewer_a):
    before = snapshot()
    with pytest.raises(Http404):
        WRITES[service](case_a, reviewer_a)
    assert snapshot() == before


def test_a_site_coordinator_may_not_take_the_research_export_of_investigators(case_a, coordinator_a):
    # Coordinator A sees site A (so the refusal is a plain 403-style one, not a 404).
    with pytest.raises(PermissionDenied) as refused:
        research_export_create(
            user=coordinator_a, cohort=CohortFilter(site_ids=(case_a["patient"].site_id,)), file_format="csv"
        )
    assert not isinstance(refused.value, Http404)


def test_only_administrators_export_every_site_at_once(case_a, investigator_a):
    with pytest.raises(PermissionDenied):
        research_export_create(user=investigator_a, cohort=CohortFilter(site_ids=None), file_format="csv")


def test_a_reviewer_cannot_add_to_the_shared_lot_catalogue(case_a, site_a):
    reviewer = member(UserFactory(username="reviewer_only"), site_a, Role.REVIEWER)
    product = CementProduct.objects.get()
    with pytest.raises(PermissionDenied):
        procedure_services.cement_lot_get_or_create(product=product, lot_number="ZZ-1", acting_user=reviewer)
    assert not CementLot.objects.filter(lot_number="ZZ-1").exists()


def test_only_registry_administrators_grant_roles(site_a, site_b, coordinator_a, admin_user):
    newcomer = UserFactory(username="newcomer")
    with pytest.raises(PermissionDenied):
        site_membership_set(acting_user=coordinator_a, user=newcomer, site=site_a, role=Role.COORDINATOR)
    assert not SiteMembership.objects.filter(user=newcomer).exists()

    membership = site_membership_set(acting_user=admin_user, user=newcomer, site=site_b, role=Role.REVIEWER)
    assert (membership.role, membership.history.get().history_user) == (Role.REVIEWER, admin_user)


def test_the_same_services_accept_the_sites_own_coordinator(case_a, coordinator_a):
    # The refusals above are about the user, not about the inputs.
    procedure_services.procedure_update(
        procedure=case_a["procedure"], acting_user=coordinator_a, data={"operator": "Dr X"}
    )
    content, log = export_site(site=case_a["patient"].site, acting_user=coordinator_a, file_format="csv")
    assert content and log.exported_by == coordinator_a


# --- No access rule outside registry/access.py ------------------------------------------------------

# Membership and role rules: who belongs to which site, as what; administrators by flag.
RULE = re.compile(
    r"SiteMembership|\bmemberships\b|\.is_superuser\b(?!\s*=[^=])|is_superuser\s*=|"
    r"Role\.(COORDINATOR|INVESTIGATOR|REVIEWER)|def _?require_(data_entry|entry|coordinator|registry_admin)\b"
)
# Where such a rule may appear, and why.
ALLOWED = {
    "registry/access.py": "the one door",
    "registry/core/management/commands/seed_demo.py": "names the demo logins' roles; grants them via accounts",
}


def test_no_site_scoping_or_role_rule_lives_outside_registry_access():
    offenders = []
    for path in sorted([*ROOT.glob("registry/**/*.py"), *ROOT.glob("reports/**/*.py")]):
        relative = path.relative_to(ROOT).as_posix()
        if "/migrations/" in relative or relative.startswith("registry/accounts/") or relative in ALLOWED:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if RULE.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []
