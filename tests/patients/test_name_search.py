"""The case list's name search: one text per patient on PostgreSQL's trigram index, the same
patients as looking for every word in the given or the family name, never outside the user's
sites (issue #14; the time is benchmarked in benchmarks/run_scale.py, never asserted here)."""

import functools
import operator

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.urls import reverse

from registry.patients.models import Patient
from registry.patients.selectors import patient_list_for_user
from tests.factories import PatientFactory

LIST = reverse("patients:list")
NAMES = [
    ("Ana", "García"),
    ("Ana María", "García López"),
    ("María José", "Ruiz"),
    ("José", "Anaya"),
    ("Lucía", "Jiménez"),
    ("Juan", "Garcíamartín"),
    ("Ramón", "Pérez-Ana"),
]


def _every_word_in_a_name(query: str) -> set[int]:
    """The plain search: each word, any part, of the given or the family name."""
    words = query.split()
    condition = functools.reduce(
        operator.and_, (Q(given_name__icontains=w) | Q(family_name__icontains=w) for w in words)
    )
    return set(Patient.objects.filter(condition).values_list("pk", flat=True))


def _searched(client, query: str) -> list[int]:
    client.post(LIST, {"q": query})
    return [p.pk for p in client.get(LIST, {"per_page": 100}).context["page"].object_list]


@pytest.mark.parametrize(
    "query",
    [
        "Ana García",
        "garcía ana",
        "ana   maría  garcía",
        "María José",
        "josé ruiz",
        "ana",
        "an",
        "GARCÍA",
        "aGarcía",  # spans the given and the family name: no one
        "anagarcía",
        "a g",
        "ía",
        "pérez-ana",
        "jimenez",  # no accent, no match (as before: a substring, not a fuzzy match)
        "100%",
        "ana_",
    ],
)
def test_a_search_finds_exactly_the_patients_with_every_word_in_a_name(client_for, coordinator_a, site_a, query):
    for given, family in NAMES:
        PatientFactory(site=site_a, given_name=given, family_name=family)

    found = _searched(client_for(coordinator_a), query)

    assert set(found) == _every_word_in_a_name(query)
    assert found == sorted(found, reverse=True)  # newest registration first, as every list


def test_a_two_word_search_finds_both_orders_and_no_one_else(client_for, coordinator_a, site_a):
    ana = PatientFactory(site=site_a, given_name="Ana", family_name="García")
    PatientFactory(site=site_a, given_name="Ana", family_name="Gil")
    PatientFactory(site=site_a, given_name="Luis", family_name="García")
    client = client_for(coordinator_a)
    assert _searched(client, "Ana García") == [ana.pk]
    assert _searched(client, "garcía ana") == [ana.pk]


def test_a_name_search_never_leaves_the_users_sites(client_for, coordinator_a, coordinator_b, site_a, site_b):
    mine = PatientFactory(site=site_a, given_name="Ana", family_name="García")
    theirs = PatientFactory(site=site_b, given_name="Ana", family_name="García")

    assert _searched(client_for(coordinator_a), "ana garcía") == [mine.pk]
    assert _searched(client_for(coordinator_b), "ana garcía") == [theirs.pk]


@pytest.mark.parametrize("query", ["villaverde", "lucía fernández-villaverde"])
def test_name_search_uses_the_trigram_index_on_postgresql(admin_user, site_a, query):
    """Over all sites (an administrator, or a coordinator of most of a national registry) the
    planner can only avoid reading every row through the name and MRN indexes: with sequential
    and plain index scans off, it must still find an index for every arm of the search, and the
    names' arm is one trigram index for all the words."""
    PatientFactory(site=site_a, given_name="Lucía", family_name="Fernández-Villaverde")
    patients = patient_list_for_user(user=admin_user, query=query)
    sql, params = patients.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "patient_name_search_trgm" in plan, plan
    assert "Seq Scan on patients_patient" not in plan, plan
    assert [p.family_name for p in patients] == ["Fernández-Villaverde"]
