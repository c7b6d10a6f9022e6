"""Each accepted message is recorded as sent before the next one can be accepted, even though the
record commits while the next message is handed over; and it costs one statement."""

import collections
import datetime as dt
import threading

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.followup import dispatch, mailer
from registry.followup.emails import message_id_for
from registry.followup.models import MessageKind, MessageStatus, OutboundMessage
from tests.conftest import database_url_for_tests
from tests.factories import PatientFactory
from tests.followup.conftest import at, record_procedure
from tests.utils import wait_for

NOW = at(14).astimezone(dt.UTC)


def _due_invitations(site, clock, n: int) -> list[int]:
    """``n`` patients whose early invitations are due on day 14 (windows opened by a sweep)."""
    for i in range(n):
        record_procedure(PatientFactory(site=site, email=f"p{i}@example.test"))
    clock.set(at(14))
    queued = []
    dispatch.followup_sweep(now=NOW, queue=queued.append)
    return sorted(pk for pk in queued if OutboundMessage.objects.get(pk=pk).kind == MessageKind.INVITATION)


def _waiting_for_a_row_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_the_next_message_is_not_accepted_while_the_previous_one_is_not_recorded_as_sent(site_a, clock, smtp_settings):
    # Given three due invitations, and a row lock that the sink takes on the first one just
    # before accepting it, so that its "sent" cannot commit
    ids = _due_invitations(site_a, clock, 3)
    handler = smtp_settings.handler
    locker = psycopg.connect(database_url_for_tests())
    handler.before_reply = lambda accepted: (
        locker.execute("SELECT id FROM followup_outboundmessage WHERE id = %s FOR UPDATE", [ids[0]])
        if accepted == 0
        else None
    )
    outcomes = {}

    def send_batch():
        try:
            outcomes.update(dispatch.messages_send(message_ids=ids, now=NOW))
        finally:
            mailer.smtp_connection_drop()
            connection.close()

    # When a worker thread sends the batch and the first message's record waits for the lock
    sender = threading.Thread(target=send_batch)
    sender.start()
    try:
        wait_for(_waiting_for_a_row_lock, timeout=30, message="the first message's record waiting")

        # Then the server has accepted the first message only: the second waits for that record
        assert len(handler.received) == 1
        assert OutboundMessage.objects.get(pk=ids[0]).status == MessageStatus.SENDING
    finally:
        locker.rollback()
        locker.close()
        sender.join(timeout=60)

    # And once the record commits, the others go out: each message once, each recorded as sent
    assert [outcomes[pk].status for pk in ids] == ["sent"] * 3
    counts = collections.Counter(r.message_id for r in handler.received)
    assert counts == collections.Counter(message_id_for(m) for m in OutboundMessage.objects.filter(pk__in=ids))
    assert OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.SENT).count() == 3


@pytest.mark.django_db
def test_each_sent_message_costs_one_statement_on_top_of_the_batchs_claim(site_a, clock, smtp_settings):
    # Given six due invitations
    ids = _due_invitations(site_a, clock, 6)

    # When a batch of two and a batch of four are sent
    with CaptureQueriesContext(connection) as two:
        dispatch.messages_send(message_ids=ids[:2], now=NOW)
    with CaptureQueriesContext(connection) as four:
        dispatch.messages_send(message_ids=ids[2:], now=NOW)

    # Then the two more messages cost two more statements: their own "sent"
    assert len(smtp_settings.handler.received) == 6
    assert len(four) - len(two) == 2
    marks = [query["sql"] for query in four.captured_queries if query["sql"].startswith("UPDATE")]
    assert sum(1 for sql in marks if "sent_at" in sql) == 4
    assert OutboundMessage.objects.filter(pk__in=ids, status=MessageStatus.SENT).count() == 6
