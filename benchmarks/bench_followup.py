"""Follow-up engine benchmark: the idle sweep, opening windows and the email dispatch rate, each beside a baseline.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/reg_bench_followup \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/4 \\
    .venv/bin/python benchmarks/bench_followup.py --patients 10000 --open 3000 --dispatch 1000

The database is created if missing and emptied of patients first. Patients and procedures come
from ``registry.demo.cohort.generate_cohort`` (sessions over the 18 months before today); their
follow-up events are then written in bulk in the state the sweeps would have left them in:
windows already closed are completed (80 %) or missed, open ones invited with their reminders
pending in the future, later ones scheduled. So "nothing is due": the sweep's answer is empty and
its time is that of its index range scans.

Opening windows: ``--open N`` opens N due windows set-based and N one per transaction (the old
sweep), same data, same run. Dispatch: ``--dispatch N`` sends N due invitations in-process and N
through a real Celery worker (``--pool``, ``--concurrency``), beside a raw ``send_messages`` of the
same emails on one SMTP connection to the same sink (aiosmtpd in its own process), measured before
and after in the same run; it prints each rate, the ratios, peak RSS and the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
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


from benchmarks.common import replay_seconds, setup_django  # noqa: E402


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
    """The sweep when nothing is due (median and max of ``runs``, its queries) beside a same-run
    baseline: its own statements replayed on a cursor (one transaction, rolled back), i.e. what
    the database alone costs for them; the two alternate, so that both see the same load."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from registry.followup.dispatch import followup_sweep

    def no_queue(pk):
        raise AssertionError("nothing should be due")

    followup_sweep(now=now, queue=no_queue)  # warm caches and connection
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        followup_sweep(now=now, queue=no_queue)
    statements = [q["sql"] for q in queries.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]

    times, replays = [], []
    for _ in range(runs):
        started = time.perf_counter()
        report = followup_sweep(now=now, queue=no_queue)
        times.append(time.perf_counter() - started)
        assert not any(report.as_dict().values()), report.as_dict()
        replays.append(replay_seconds(statements))
    return {
        "median_ms": statistics.median(times) * 1000,
        "max_ms": max(times) * 1000,
        "queries": len(queries),
        "replay_ms": statistics.median(replays) * 1000,
    }


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


def _sink_process(port: int, count, last, ready) -> None:
    """An SMTP sink in its own process, so that it does not share the interpreter being measured.
    ``count`` messages accepted, ``last`` the ``time.monotonic()`` of the last one (system-wide)."""
    import asyncio

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with count.get_lock():
                count.value += 1
                last.value = time.monotonic()
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    asyncio.run(asyncio.sleep(10**6))


class Sink:
    def __init__(self):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.count, self.last, ready = context.Value("i", 0), context.Value("d", 0.0), context.Event()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process = context.Process(target=_sink_process, args=(self.port, self.count, self.last, ready))
        self.process.daemon = True
        self.process.start()
        ready.wait(30)

    def wait_for(self, total: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.count.value < total and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


def _due_invitations(n: int, today: dt.date, now: dt.datetime) -> list[int]:
    """Up to ``n`` pending invitations that ``messages_send`` will send: those --open (or an
    earlier run) left, else windows opened for the purpose.

    A window opened for the purpose is moved as a whole so that its invitation day is today: like
    the invitations of one real day, those of one time point then close on the same day (one
    rendering per kind, language, site and closing date, as in production). Exactly those events
    are opened (``lifecycle.open_events``, batches of ``OPEN_BATCH``), not "whatever is due": on a
    data set built for another date (``load_scale.py``, 1 Oct 2026) tens of thousands of windows
    are overdue, ``open_due_windows`` takes the oldest 5,000 first, and at 1M all of them had
    closed: nothing was opened and the run divided by zero.

    Exits with a message when not even two (one each way) can be made."""
    from django.db import transaction

    from registry.followup import dispatch, lifecycle
    from registry.followup.models import (
        EventStatus,
        FollowUpEvent,
        MessageKind,
        MessageStatus,
        OutboundMessage,
        ProtocolEvent,
    )
    from registry.patients.models import ConsentStatus

    contactable = {
        "consent_status": ConsentStatus.CONSENTED,
        "contact_opt_out": False,
        "deceased_on__isnull": True,
        "email__gt": "",
    }

    def pending() -> list[int]:
        # Only what the send's checks let through: otherwise the raw baseline would send emails
        # that the measured dispatch cancels.
        return list(
            OutboundMessage.objects.filter(
                kind=MessageKind.INVITATION,
                status=MessageStatus.PENDING,
                invitation__submitted_at__isnull=True,
                invitation__expires_at__gt=now,
                invitation__event__status=EventStatus.INVITED,
                **{f"patient__{key}": value for key, value in contactable.items()},
            )
            .order_by("id")
            .values_list("id", flat=True)[:n]
        )

    message_ids = pending()
    # A few rounds: a window can be superseded by a later procedure's opened beside it.
    for _ in range(3):
        if len(message_ids) >= n:
            break
        ids = list(
            FollowUpEvent.objects.filter(
                status=EventStatus.SCHEDULED,
                invite_on__gt=today,
                **{f"patient__{key}": value for key, value in contactable.items()},
            )
            .order_by("id")
            .values_list("id", flat=True)[: n - len(message_ids)]
        )
        for point in ProtocolEvent.objects.filter(invite_day__isnull=False):
            FollowUpEvent.objects.filter(id__in=ids, protocol_event=point).update(
                invite_on=today,
                window_opens_on=today - dt.timedelta(days=point.invite_day - point.window_start_day),
                window_closes_on=today + dt.timedelta(days=point.window_end_day - point.invite_day),
            )
        for start in range(0, len(ids), dispatch.OPEN_BATCH):
            with transaction.atomic():
                lifecycle.open_events(event_ids=ids[start : start + dispatch.OPEN_BATCH], now=now)
        message_ids = pending()
        if not ids:
            break
    if len(message_ids) < 2:
        raise SystemExit(
            f"dispatch: {len(message_ids)} due invitation(s) could be made, at least 2 are needed: no pending "
            "invitation and no scheduled event with a future invitation day of a consented, living patient "
            "with an email address is left in this database (reload it, e.g. load_scale.py --rebuild)"
        )
    if len(message_ids) < n:
        print(f"dispatch: only {len(message_ids)} of {n} due invitations could be made", file=sys.stderr)
    return message_ids


def _prepared_emails(message_ids: list[int]) -> list:
    """The same emails, built beforehand, for the raw baseline."""
    from registry.followup import emails
    from registry.followup.models import OutboundMessage

    loaded = list(
        OutboundMessage.objects.select_related("site", "patient", "invitation__event").filter(pk__in=message_ids)
    )
    for message in loaded:
        message.to_address, message.language = message.patient.email, message.patient.preferred_language
    prepared = [emails.build_email(message) for message in loaded]
    emails.forget_rendered()  # the measured dispatch starts cold
    return prepared


def _raw_send(prepared: list, sink: Sink) -> float:
    """Seconds for one raw ``send_messages`` of ``prepared`` on one SMTP connection."""
    from django.core.mail import get_connection

    connection = get_connection(
        "django.core.mail.backends.smtp.EmailBackend", host="127.0.0.1", port=sink.port, use_tls=False, use_ssl=False
    )
    started = time.perf_counter()
    connection.open()
    assert connection.send_messages(prepared) == len(prepared)
    connection.close()
    return time.perf_counter() - started


def _use_sink(sink: Sink) -> None:
    from django.conf import settings

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""


def dispatch_vs_raw(n: int, today: dt.date, concurrency: int, pool: str) -> dict:
    """Sending ``n`` due invitations beside a same-run baseline: a raw ``send_messages`` of the same
    emails (built beforehand) on one SMTP connection, to the same sink (its own process), once
    before and once after; the ratio uses their mean.

    - in-process: ``dispatch.messages_send`` in batches of SEND_BATCH from this one thread (claim,
      load, checks, email, SMTP, one ``UPDATE ... sent`` per message), the strictest comparison;
    - worker: a real ``celery worker`` (``--pool``, ``--concurrency``) running ``send_messages_task``
      for the batches the sweep would queue, from the first doorbell to the last message accepted.
    """
    from django.conf import settings

    from registry.celery import app
    from registry.followup import dispatch, mailer, queueing
    from registry.followup.models import OutboundMessage

    now = dt.datetime.combine(today, dt.time(10), tzinfo=ZoneInfo(TZ))
    message_ids = _due_invitations(2 * n, today, now)
    in_process_ids, worker_ids = message_ids[0::2], message_ids[1::2]
    sink = Sink()
    _use_sink(sink)
    worker = None
    try:
        prepared = _prepared_emails(in_process_ids)
        load_before = os.getloadavg()[0]
        raw_first = _raw_send(prepared, sink)

        mailer.smtp_connection_drop()
        started = time.perf_counter()
        outcomes = {}
        for start in range(0, len(in_process_ids), queueing.SEND_BATCH):
            batch = in_process_ids[start : start + queueing.SEND_BATCH]
            outcomes.update(dispatch.messages_send(message_ids=batch, now=now))
        in_process_s = time.perf_counter() - started
        mailer.smtp_connection_drop()
        sent_in_process = sum(1 for outcome in outcomes.values() if outcome.status == "sent")

        app.control.purge()
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
        time.sleep(8)  # worker start-up
        received_before = sink.count.value
        OutboundMessage.objects.filter(pk__in=worker_ids).update(dispatched_at=now)
        started_monotonic = time.monotonic()
        from registry.followup.tasks import send_messages_task

        for start in range(0, len(worker_ids), queueing.SEND_BATCH):
            send_messages_task.delay(worker_ids[start : start + queueing.SEND_BATCH])
        sink.wait_for(received_before + len(worker_ids))
        worker_s = sink.last.value - started_monotonic
        deadline = time.monotonic() + 120
        while OutboundMessage.objects.filter(pk__in=worker_ids, status__in=["pending", "sending"]).exists():
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        sent_worker = OutboundMessage.objects.filter(pk__in=worker_ids, status="sent").count()

        raw_second = _raw_send(prepared, sink)
        load_after = os.getloadavg()[0]
        raw_rate = len(prepared) / ((raw_first + raw_second) / 2)
        return {
            "n": len(in_process_ids),
            "sent_in_process": sent_in_process,
            "in_process_rate": sent_in_process / in_process_s,
            "sent_worker": sent_worker,
            "worker_rate": len(worker_ids) / worker_s,
            "raw_rates": (len(prepared) / raw_first, len(prepared) / raw_second),
            "raw_rate": raw_rate,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "load": (load_before, load_after),
        }
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        sink.stop()


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
    parser.add_argument(
        "--dispatch", type=int, default=1000, help="send N invitations in-process and N by a worker, beside raw"
    )
    parser.add_argument("--concurrency", type=int, default=4)
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
        print(f"  {counts()}")
        if not args.runs:
            continue  # --runs 0: no idle sweep (e.g. --keep after --open left messages due)
        load = os.getloadavg()[0]
        result = idle_sweep(now, args.runs)
        print(
            f"  idle sweep: median {result['median_ms']:.1f} ms, max {result['max_ms']:.1f} ms, "
            f"{result['queries']} queries; same-run baseline, its statements replayed on a cursor: "
            f"{result['replay_ms']:.1f} ms = {result['median_ms'] / result['replay_ms']:.2f}x; peak RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; load average {load:.1f} "
            f"before, {os.getloadavg()[0]:.1f} after",
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
        result = dispatch_vs_raw(args.dispatch, today, args.concurrency, args.pool)
        raw = result["raw_rate"]
        print(
            f"dispatch of {result['n']} invitations: in-process {result['in_process_rate']:.0f} messages/s "
            f"({result['sent_in_process']} sent) = {result['in_process_rate'] / raw:.2f}x; worker {args.pool} x "
            f"{args.concurrency} {result['worker_rate']:.0f} messages/s ({result['sent_worker']} sent) = "
            f"{result['worker_rate'] / raw:.2f}x; same-run raw send_messages {result['raw_rates'][0]:.0f} / "
            f"{result['raw_rates'][1]:.0f} messages/s (before / after); peak RSS of this process "
            f"{result['peak_rss_mib']:.0f} MiB; load average {result['load'][0]:.1f} before, {result['load'][1]:.1f} after",
            flush=True,
        )


if __name__ == "__main__":
    main()
