"""Factories for the personas and the clinical records, built in code (STYLE.md item 10)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from registry.accounts.models import Role, SiteMembership
from registry.patients.models import ConsentStatus, Patient, Site
from registry.procedures.models import (
    Anaesthesia,
    Approach,
    CementLeak,
    CementLot,
    CementProduct,
    Complication,
    ComplicationFoundAt,
    ComplicationType,
    Guidance,
    Indication,
    LeakDetection,
    LeakLocation,
    Procedure,
    ProcedureType,
    SirSeverity,
    TreatedLevel,
    VertebralLevel,
)

PASSWORD = "correct horse battery staple"


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{chr(65 + n % 26)}{chr(65 + (n // 26) % 26)}")
    name = factory.LazyAttribute(lambda o: f"Spine unit {o.code}")
    time_zone = "Europe/Madrid"
    contact_email = factory.LazyAttribute(lambda o: f"registry-{o.code.lower()}@hospital.test")
    clinician_email = factory.LazyAttribute(lambda o: f"clinician-{o.code.lower()}@hospital.test")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@hospital.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def member(user, site, role: str):
    SiteMembership.objects.update_or_create(user=user, site=site, defaults={"role": role})
    user.__dict__.pop("_registry_site_ids", None)
    return user


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    site = factory.SubFactory(SiteFactory)
    study_id = factory.LazyAttributeSequence(lambda o, n: f"{o.site.code}-{900000 + n:06d}")
    mrn = factory.Sequence(lambda n: f"MRN{n:07d}")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    date_of_birth = dt.date(1945, 3, 14)
    sex = "female"
    email = factory.Sequence(lambda n: f"patient{n}@example.test")
    consent_status = ConsentStatus.CONSENTED
    consent_date = dt.date(2026, 1, 5)


class CementProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CementProduct
        django_get_or_create = ("manufacturer", "brand")

    manufacturer = "Acme Spine"
    brand = factory.Sequence(lambda n: f"VertaFix {n}")
    gtin = factory.Sequence(lambda n: f"{5012345678900 + n * 10:014d}")


class CementLotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CementLot

    product = factory.SubFactory(CementProductFactory)
    lot_number = factory.Sequence(lambda n: f"AB-{12345 + n}")
    lot_number_normalised = factory.LazyAttribute(lambda o: o.lot_number.replace("-", "").upper())
    expires_on = dt.date(2027, 12, 31)


class ProcedureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Procedure

    patient = factory.SubFactory(PatientFactory)
    site = factory.LazyAttribute(lambda o: o.patient.site)
    performed_on = dt.date(2026, 2, 2)
    operator = "Dr Vega"
    procedure_type = ProcedureType.PVP
    indication = Indication.OSTEOPOROTIC
    anaesthesia = Anaesthesia.LOCAL
    guidance = Guidance.BIPLANE


class TreatedLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TreatedLevel

    procedure = factory.SubFactory(ProcedureFactory)
    level = VertebralLevel.L1
    approach = Approach.BIPEDICULAR
    cement_lot = factory.SubFactory(CementLotFactory)
    cement_volume_ml = Decimal("2.0")


class ComplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Complication

    procedure = factory.SubFactory(ProcedureFactory)
    patient = factory.LazyAttribute(lambda o: o.procedure.patient)
    onset_on = factory.LazyAttribute(lambda o: o.procedure.performed_on)
    found_at = ComplicationFoundAt.DURING
    complication_type = ComplicationType.PCE
    severity = SirSeverity.MILD


class CementLeakFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CementLeak

    treated_level = factory.SubFactory(TreatedLevelFactory)
    location = LeakLocation.DISC_SUPERIOR
    detected_by = LeakDetection.FLUOROSCOPY


__all__ = [
    "PASSWORD",
    "Role",
    "SiteFactory",
    "UserFactory",
    "member",
    "PatientFactory",
    "CementProductFactory",
    "CementLotFactory",
    "ProcedureFactory",
    "TreatedLevelFactory",
    "ComplicationFactory",
    "CementLeakFactory",
]
