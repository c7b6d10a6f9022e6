"""Run by test_sqlite_dispatch.py in a child process on a fresh SQLite database (the demo set-up).

Migrates, has a patient stop survey emails (the site's mailboxes get a notice), sends the
notices through the dispatcher as the demo's worker would, twice, runs the beat's sweep twice
(its lost-planning walk claims its slice with a conditional update) and prints what happened.
"""

import json

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from registry.followup import dispatch, services  # noqa: E402
from registry.followup.models import MessageKind, OutboundMessage, SweepCursor  # noqa: E402
from tests.factories import PatientFactory, ProcedureFactory, SiteFactory  # noqa: E402

call_command("migrate", verbosity=0)
site = SiteFactory(code="TOL", time_zone="Europe/Madrid")
patient = PatientFactory(site=site)
services.followup_stop_contact(patient_id=patient.pk, reason="opted_out")
ids = list(OutboundMessage.objects.filter(kind=MessageKind.OPT_OUT_NOTICE).values_list("pk", flat=True))
first = dispatch.messages_send(message_ids=ids)
again = dispatch.messages_send(message_ids=ids)
ProcedureFactory(patient=patient)  # within its planning's grace: the walk looks, plans nothing
sweeps = [dispatch.followup_sweep(queue=lambda pk: None).as_dict() for _ in range(2)]
print(
    json.dumps(
        {
            "vendor": connection.vendor,
            "notices": len(ids),
            "first": sorted(outcome.status for outcome in first.values()),
            "again": sorted(outcome.status for outcome in again.values()),
            "stored": sorted(OutboundMessage.objects.filter(pk__in=ids).values_list("status", "attempts")),
            "sweeps": sweeps,
            "walks": SweepCursor.objects.filter(name=dispatch.PLAN_CURSOR).count(),
        }
    )
)
