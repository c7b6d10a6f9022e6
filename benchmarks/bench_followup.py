"""Follow-up engine benchmark: an idle sweep at 10k and 100k patients, and the email dispatch rate.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/reg_bench_followup \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/4 \\
    .venv/bin/python benchmarks/bench_followup.py --patients 10000 100000 --dispatch 3000

The database is created if missing and emptied of patients first. Patients and procedures come
from ``registry.demo.cohort.generate_cohort`` (sessions over the 18 months before today); their
follow-up events are then written in bulk in the state the sweeps would have left them in:
windows already closed are completed (80 %) or missed, open ones invited with their reminders
pending in the future, later ones scheduled. So "nothing is due": the sweep's answer is empty and
its time is that of its index range scans.

Dispatch: ``--dispatch`` scheduled events are moved to be invited today; one sweep opens their
windows (invitations, messages) and queues one send task per invitation; a real Celery worker
(``--pool``, ``--concurrency``) sends them to an SMTP sink (aiosmtpd) in this process. The rate is
messages accepted by the sink per second, from the first queued task to the last message.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reg_bench_followup")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/4")
os.environ.setdefault("LOG_LEVEL", "WARNING")

TZ = "Europe/Madrid"


from benchmarks.common import setup_django  # noqa: E402


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE followup_worklistitem, followup_outboundmessage, followup_surveyresponse, "
            "followup_surveyinvitation, followup_followupevent, patients_bonehealthaction, "
            "procedures_cementleak, procedures_complication, procedures_treatedlevel, procedures_procedure, "
            "patients_consentevent, patients_patient CASCADE"
        )


def sites():
    from registry.patients.models import Site

    return [
        Site.objects.get_or_create(
            code=code,
            defaults={"name": f"Bench {code}", "time_zone": TZ, "contact_email": f"{code.lower()}@bench.test"},
        )[0]
        for code in ("BENA", "BENB", "BENC")
    ]


def grow_cohort(target: int, today: dt.date) -> None:
    """Add patients until there are ``target``, then plan their follow-up in bulk."""
    from registry.demo.cohort import generate_cohort
    from registry.patients.models import Patient

    have = Patient.objects.count()
    if have >= target:
        return
    started = time.perf_counter()
    generate_cohort(sites=sites(), n_patients=target - have, seed=target, today=today)
    print(f"  cohort +{target - have} patients in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    plan_in_bulk(today)
    print(f"  follow-up planned in {time.perf_counter() - started:.0f} s", flush=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def plan_in_bulk(today: dt.date) -> None:
    """The events the sweeps would have left: closed windows answered or missed, open ones invited."""
    from django.db.models import Exists, OuterRef

    from registry.followup.models import (
        EventStatus,
        FollowUpEvent,
        MessageKind,
        OutboundMessage,
        ProtocolEvent,
    )
    from registry.patients.models import Patient
    from registry.procedures.models import Procedure

    rng = random.Random(7)
    protocol_events = list(ProtocolEvent.objects.filter(protocol__is_default=True))
    now = dt.datetime.combine(today, dt.time(10), tzinfo=ZoneInfo(TZ))
    unplanned = Procedure.objects.filter(~Exists(FollowUpEvent.objects.filter(procedure=OuterRef("pk"))))
    rows = unplanned.filter(patient__consent_status="consented").values_list(
        "id", "patient_id", "site_id", "performed_on"
    )
    emails = dict(Patient.objects.exclude(email="").values_list("id", "email"))
    batch, messages = [], []
    for procedure_id, patient_id, site_id, performed_on in rows.iterator(chunk_size=5000):
        for pe in protocol_events:
            opens = performed_on + dt.timedelta(days=pe.window_start_day)
            invite = None if pe.invite_day is None else performed_on + dt.timedelta(days=pe.invite_day)
            closes = performed_on + dt.timedelta(days=pe.window_end_day)
            if closes < today:
                status = EventStatus.COMPLETED if rng.random() < 0.8 else EventStatus.MISSED
            elif invite is not None and invite <= today:
                status = EventStatus.INVITED
                if patient_id in emails:
                    due = now + dt.timedelta(days=1 + procedure_id % 6)  # a reminder still to come
                    messages.append(
                        OutboundMessage(
                            kind=MessageKind.REMINDER,
                            site_id=site_id,
                            patient_id=patient_id,
                            to_address=emails[patient_id],
                            due_at=due,
                            dedupe_key=f"bench:{procedure_id}:{pe.code}",
                        )
                    )
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
            FollowUpEvent.objects.bulk_create(batch, batch_size=5000)
            batch = []
    FollowUpEvent.objects.bulk_create(batch, batch_size=5000)
    OutboundMessage.objects.bulk_create(messages, batch_size=5000, ignore_conflicts=True)


def idle_sweep(now: dt.datetime, runs: int) -> dict:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from registry.followup.dispatch import followup_sweep

    def no_queue(pk):
        raise AssertionError("nothing should be due")

    followup_sweep(now=now, queue=no_queue)  # warm caches and connection
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        report = followup_sweep(now=now, queue=no_queue)
        times.append(time.perf_counter() - started)
        assert not any(report.as_dict().values()), report.as_dict()
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        followup_sweep(now=now, queue=no_queue)
    return {"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000, "queries": len(queries)}


def counts() -> dict:
    from registry.followup.models import FollowUpEvent, OutboundMessage
    from registry.patients.models import Patient
    from registry.procedures.models import Procedure

    return {
        "patients": Patient.objects.count(),
        "procedures": Procedure.objects.count(),
        "events": FollowUpEvent.objects.count(),
        "pending_messages": OutboundMessage.objects.filter(status="pending").count(),
    }


class Sink:
    def __init__(self):
        from aiosmtpd.controller import Controller

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.count = 0
        self.first = self.last = None
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            self.last = time.perf_counter()
            if self.first is None:
                self.first = self.last
        return "250 OK"


def dispatch_rate(n: int, today: dt.date, concurrency: int, pool: str) -> dict:
    from django.conf import settings

    from registry.celery import app
    from registry.followup.dispatch import followup_sweep
    from registry.followup.models import EventStatus, FollowUpEvent, OutboundMessage

    app.control.purge()
    ids = list(
        FollowUpEvent.objects.filter(status=EventStatus.SCHEDULED, invite_on__isnull=False, patient__email__gt="")
        .exclude(patient__contact_opt_out=True)
        .filter(patient__consent_status="consented", patient__deceased_on__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)[:n]
    )
    FollowUpEvent.objects.filter(id__in=ids).update(invite_on=today, window_opens_on=today)
    sink = Sink()
    env = {
        **os.environ,
        "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "celery", "-A", "registry", "worker", "--loglevel=WARNING", f"--pool={pool}",
         f"--concurrency={concurrency}", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(6)  # worker start-up
        now = dt.datetime.combine(today, dt.time(10), tzinfo=ZoneInfo(TZ))
        started = time.perf_counter()
        report = followup_sweep(now=now)
        swept = time.perf_counter()
        deadline = time.monotonic() + 600
        while sink.count < len(ids) and time.monotonic() < deadline:
            time.sleep(0.1)
        finished = sink.last or time.perf_counter()
        # Let the worker mark the last rows sent before stopping it (else they are re-sent later).
        while OutboundMessage.objects.filter(kind="invitation", status__in=["pending", "sending"]).exists():
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        sent = OutboundMessage.objects.filter(status="sent", kind="invitation").count()
        return {
            "invitations": len(ids),
            "opened": report.opened,
            "sweep_s": swept - started,
            "received": sink.count,
            "sent_rows": sent,
            "send_s": finished - started,
            "rate_per_s": sink.count / (finished - started),
            "send_only_rate_per_s": sink.count / (finished - swept) if finished > swept else float("nan"),
        }
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        sink.controller.stop()


def open_windows(n: int, today: dt.date) -> dict:
    """Opening ``n`` due windows in one sweep (set-based, batches of OPEN_BATCH) beside a same-run
    baseline: another ``n`` opened one event per transaction, as the sweep did before (lock,
    overlap check, invitation, token, event, messages per event). Both in-process, same data."""
    from django.db import transaction

    from registry.followup import dispatch, lifecycle
    from registry.followup.models import EventStatus, FollowUpEvent

    ids = list(
        FollowUpEvent.objects.filter(status=EventStatus.SCHEDULED, invite_on__gt=today, patient__email__gt="")
        .filter(patient__consent_status="consented", patient__deceased_on__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)[: 2 * n]
    )
    baseline_ids, batched_ids = ids[0::2], ids[1::2]
    now = dt.datetime.combine(today, dt.time(10), tzinfo=ZoneInfo(TZ))
    load = os.getloadavg()[0]
    FollowUpEvent.objects.filter(id__in=baseline_ids).update(invite_on=today, window_opens_on=today)
    started = time.perf_counter()
    for event_id in baseline_ids:
        with transaction.atomic():
            lifecycle.open_events(event_ids=[event_id], now=now)
    baseline_s = time.perf_counter() - started
    FollowUpEvent.objects.filter(id__in=batched_ids).update(invite_on=today, window_opens_on=today)
    started = time.perf_counter()
    opened = dispatch.open_due_windows(
        now=now, days={today: list(FollowUpEvent.objects.values_list("site_id", flat=True).distinct())}
    )
    batched_s = time.perf_counter() - started
    return {
        "n": len(batched_ids),
        "opened": opened,
        "baseline_ms": baseline_s * 1000 / max(1, len(baseline_ids)),
        "batched_ms": batched_s * 1000 / max(1, opened),
        "load": (load, os.getloadavg()[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--dispatch", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads"])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--open", type=int, default=0, help="measure opening N windows (and N one by one)")
    parser.add_argument("--keep", action="store_true", help="reuse the patients already in the database")
    args = parser.parse_args()
    setup_django()
    if not args.keep:
        reset()
    from django.utils import timezone

    today = timezone.localdate()
    now = dt.datetime.combine(today, dt.time(10), tzinfo=ZoneInfo(TZ))
    for target in sorted(args.patients):
        print(f"{target} patients:", flush=True)
        grow_cohort(target, today)
        result = idle_sweep(now, args.runs)
        print(f"  {counts()}")
        print(
            f"  idle sweep: median {result['median_ms']:.1f} ms, max {result['max_ms']:.1f} ms, "
            f"{result['queries']} queries",
            flush=True,
        )
    if args.open:
        result = open_windows(args.open, today)
        print(
            f"opening windows: {result['opened']} set-based at {result['batched_ms']:.2f} ms per window; "
            f"same-run baseline one per transaction {result['baseline_ms']:.2f} ms per window: "
            f"{result['baseline_ms'] / result['batched_ms']:.1f}x faster "
            f"(load average {result['load'][0]:.1f} before, {result['load'][1]:.1f} after)",
            flush=True,
        )
    if args.dispatch:
        result = dispatch_rate(args.dispatch, today, args.concurrency, args.pool)
        print(
            f"dispatch: {result['received']}/{result['invitations']} invitations received "
            f"({result['sent_rows']} rows sent); sweep opened {result['opened']} in {result['sweep_s']:.1f} s; "
            f"all sent {result['send_s']:.1f} s after the sweep began: {result['rate_per_s']:.0f} messages/s "
            f"overall, {result['send_only_rate_per_s']:.0f}/s after the sweep finished "
            f"(worker pool {args.pool}, concurrency {args.concurrency})",
            flush=True,
        )


if __name__ == "__main__":
    main()
