"""Run by test_sqlite_case_list.py in a child process on a fresh SQLite database (the demo set-up).

Migrates (the name-search trigram index is PostgreSQL's only; the follow-up status index is built
on SQLite too), then searches and filters the case list as a coordinator. Prints what it found as
JSON.
"""

import json

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from registry.patients.selectors import patient_list_for_user  # noqa: E402
from tests.factories import PatientFactory, Role, SiteFactory, UserFactory, member  # noqa: E402

call_command("migrate", verbosity=0)

site, other_site = SiteFactory(code="TOL"), SiteFactory(code="BOS")
coordinator = member(UserFactory(username="coord_a"), site, Role.COORDINATOR)
ana = PatientFactory(site=site, given_name="Ana María", family_name="García")
PatientFactory(site=site, given_name="Ana", family_name="Gil", consent_status="withdrawn", consent_date=None)
PatientFactory(site=other_site, given_name="Ana", family_name="García")


def found(**filters) -> list[str]:
    return [p.family_name for p in patient_list_for_user(user=coordinator, **filters)]


with connection.cursor() as cursor:
    indexes = set(connection.introspection.get_constraints(cursor, "patients_patient"))
print(
    json.dumps(
        {
            "vendor": connection.vendor,
            "indexes": sorted(indexes),
            "two_words": found(query="garcía ana"),
            "across_names": found(query="aGarcía"),
            "one_word": found(query="ana"),
            "withdrawn": found(followup_status="withdrawn"),
            "active": found(followup_status="active"),
        }
    )
)
