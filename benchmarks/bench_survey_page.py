"""Survey page benchmark: the patient's pages from an emailed link, with 100,000 patients in PostgreSQL.

    .venv/bin/python benchmarks/bench_survey_page.py --patients 100000 --requests 400

The database (``registry_bench_surveys`` unless ``DATABASE_URL`` says otherwise) is created and
migrated if missing. Patients and procedures come from ``registry.demo.cohort.generate_cohort``;
their follow-up events and survey invitations are then written in bulk in the state the sweeps
would have left them in (closed windows answered or missed, open ones invited), so the invitation
table holds a link for every emailed time point that has opened. Nothing is regenerated when the
database already holds the patients.

Each request goes through the whole Django stack in this process (the test client: middleware,
sessions, CSRF, the per-address rate limiter on the local-memory cache, templates) with
``DEBUG=False``, against PostgreSQL on this machine, on a different usable link each time
(round-robin over ``--links`` links) and from a different client address. Timed: the first step
(pain), the largest step (the ten ODI sections), saving a step (POST, draft upsert, redirect),
the review step, and the "link not available" page of an unknown link.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry_bench_surveys")
os.environ.setdefault("LOG_LEVEL", "ERROR")

TZ = "Europe/Madrid"


from benchmarks.common import setup_django  # noqa: E402


def sites():
    from registry.patients.models import Site

    return [
        Site.objects.get_or_create(
            code=code,
            defaults={"name": f"Bench {code}", "time_zone": TZ, "contact_email": f"{code.lower()}@bench.test"},
        )[0]
        for code in ("SVA", "SVB", "SVC")
    ]


def grow_cohort(target: int, today: dt.date) -> None:
    from registry.demo.cohort import generate_cohort
    from registry.patients.models import Patient

    have = Patient.objects.count()
    if have < target:
        started = time.perf_counter()
        generate_cohort(sites=sites(), n_patients=target - have, seed=target, today=today)
        print(f"  cohort +{target - have} patients in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    if plan_in_bulk(today):
        print(f"  follow-up events and invitations written in {time.perf_counter() - started:.0f} s", flush=True)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def plan_in_bulk(today: dt.date) -> int:
    """Events of procedures without any, and an invitation for each emailed event that has opened."""
    from django.db.models import Exists, OuterRef

    from registry.followup import tokens
    from registry.followup.models import EventStatus, FollowUpEvent, ProtocolEvent, SurveyInvitation
    from registry.procedures.models import Procedure

    rng = random.Random(11)
    protocol_events = list(ProtocolEvent.objects.filter(protocol__is_default=True))
    now = dt.datetime.combine(today, dt.time(10), tzinfo=ZoneInfo(TZ))
    unplanned = Procedure.objects.filter(~Exists(FollowUpEvent.objects.filter(procedure=OuterRef("pk"))))
    rows = unplanned.filter(patient__consent_status="consented").values_list(
        "id", "patient_id", "site_id", "performed_on"
    )
    created = 0
    batch: list[FollowUpEvent] = []

    def flush() -> None:
        nonlocal created
        events = FollowUpEvent.objects.bulk_create(batch, batch_size=5000)
        invitations = []
        for event in events:
            if event.invite_on is None or event.status == EventStatus.SCHEDULED:
                continue
            salt = tokens.new_salt()
            expires = dt.datetime.combine(event.window_closes_on + dt.timedelta(days=1), dt.time(0), ZoneInfo(TZ))
            invitations.append(
                SurveyInvitation(
                    event=event,
                    token_salt=salt,
                    token_hash=f"new:{salt}"[:64],
                    expires_at=expires,
                    created_at=now,
                    submitted_at=now if event.status == EventStatus.COMPLETED else None,
                )
            )
        invitations = SurveyInvitation.objects.bulk_create(invitations, batch_size=5000)
        for invitation in invitations:
            invitation.token_hash = tokens.token_hash(tokens.invitation_token(invitation))
        SurveyInvitation.objects.bulk_update(invitations, ["token_hash"], batch_size=5000)
        created += len(events)
        batch.clear()

    for procedure_id, patient_id, site_id, performed_on in rows.iterator(chunk_size=5000):
        for pe in protocol_events:
            opens = performed_on + dt.timedelta(days=pe.window_start_day)
            invite = None if pe.invite_day is None else performed_on + dt.timedelta(days=pe.invite_day)
            closes = performed_on + dt.timedelta(days=pe.window_end_day)
            if closes < today:
                status = EventStatus.COMPLETED if rng.random() < 0.8 else EventStatus.MISSED
            elif invite is not None and invite <= today:
                status = EventStatus.INVITED
            else:
                status = EventStatus.SCHEDULED
            batch.append(
                FollowUpEvent(
                    procedure_id=procedure_id,
                    patient_id=patient_id,
                    site_id=site_id,
                    protocol_event=pe,
                    event_code=pe.code,
                    window_opens_on=opens,
                    invite_on=invite,
                    window_closes_on=closes,
                    status=status,
                    status_changed_at=now,
                )
            )
        if len(batch) >= 20000:
            flush()
    flush()
    return created


def usable_links(n: int) -> list[str]:
    from django.utils import timezone

    from registry.followup import tokens
    from registry.followup.models import EventStatus, SurveyInvitation

    invitations = (
        SurveyInvitation.objects.filter(
            event__status=EventStatus.INVITED,
            event__event_code="early",
            submitted_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .order_by("?")
        .select_related("event")[:n]
    )
    return [tokens.invitation_token(invitation) for invitation in invitations]


def time_requests(label: str, make_request, n: int, expect: int) -> dict:
    for i in range(min(20, n)):  # warm-up: templates compiled, connection open
        make_request(i)
    samples = []
    for i in range(n):
        started = time.perf_counter()
        response = make_request(i)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != expect:
            raise SystemExit(f"{label}: got {response.status_code}, expected {expect}")
    samples.sort()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        size = len(make_request(n).content)
    result = {
        "label": label,
        "n": n,
        "median_ms": statistics.median(samples),
        "p95_ms": samples[int(0.95 * (n - 1))],
        "max_ms": samples[-1],
        "queries": len(queries),
        "bytes": size,
    }
    print(
        f"  {label:<38} median {result['median_ms']:6.1f} ms   p95 {result['p95_ms']:6.1f} ms   "
        f"max {result['max_ms']:6.1f} ms   {result['queries']:2d} queries   {size:6,d} bytes   (n={n})",
        flush=True,
    )
    return result


def counts() -> dict:
    from registry.followup.models import FollowUpEvent, SurveyInvitation
    from registry.patients.models import Patient
    from registry.procedures.models import Procedure

    return {
        "patients": Patient.objects.count(),
        "procedures": Procedure.objects.count(),
        "events": FollowUpEvent.objects.count(),
        "invitations": SurveyInvitation.objects.count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--links", type=int, default=200)
    args = parser.parse_args()

    setup_django()
    import logging

    from django.test import Client, override_settings

    # Every unknown link is a logged 404; the benchmark's 400 of them are noise here.
    logging.getLogger("django.request").setLevel(logging.ERROR)

    today = dt.datetime.now(ZoneInfo(TZ)).date()
    print(f"Preparing {args.patients} patients in {os.environ['DATABASE_URL'].rsplit('/', 1)[-1]} ...", flush=True)
    grow_cohort(args.patients, today)
    print("  " + ", ".join(f"{k}: {v}" for k, v in counts().items()), flush=True)

    links = usable_links(args.links)
    if len(links) < args.links:
        raise SystemExit(f"Only {len(links)} usable early links; grow the cohort.")
    odi = {f"odi_{code}": "2" for code in ("pain_intensity", "personal_care", "lifting", "walking")}
    production_like = override_settings(
        DEBUG=False,
        ALLOWED_HOSTS=["testserver"],
        SECURE_SSL_REDIRECT=False,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    )
    results = []
    with production_like:
        client = Client()

        def address(i: int) -> dict:
            # A different client address each time: the rate limiter runs, and no address trips it.
            return {"REMOTE_ADDR": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"}

        def link(i: int) -> str:
            return f"/s/{links[i % len(links)]}/"

        print("Timing (PostgreSQL, DEBUG=False, in-process client):", flush=True)
        results.append(
            time_requests(
                "GET survey page (step 1, pain)", lambda i: client.get(link(i), **address(i)), args.requests, 200
            )
        )
        results.append(
            time_requests(
                "GET ODI step (10 sections, 60 options)",
                lambda i: client.get(link(i) + "?step=odi", **address(i)),
                args.requests,
                200,
            )
        )
        results.append(
            time_requests(
                "POST a step (draft saved, redirect)",
                lambda i: client.post(link(i), {"step": "odi", "action": "back", **odi}, **address(i)),
                args.requests,
                302,
            )
        )
        results.append(
            time_requests(
                "GET review step",
                lambda i: client.get(link(i) + "?step=review", **address(i)),
                args.requests,
                200,
            )
        )
        results.append(
            time_requests(
                "GET unknown link (not available page)",
                lambda i: client.get(f"/s/{'A' * 40}{i % 1000:03d}/", REMOTE_ADDR=f"10.200.{i // 256 % 256}.{i % 256}"),
                args.requests,
                404,
            )
        )
    page = results[0]["median_ms"]
    verdict = "PASS" if page < 100 else "FAIL"
    print(f"Survey page median {page:.1f} ms: {verdict} (target < 100 ms)")


if __name__ == "__main__":
    main()
