"""Patients with a survey link: a procedure on day 0, the early window opened on day 14 (site time)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from registry.followup import lifecycle, services, tokens
from registry.followup.models import FollowUpEvent, SurveyInvitation
from tests.factories import PatientFactory, ProcedureFactory

DAY0 = dt.date(2026, 2, 2)


def at(day: int, hour: int = 10, minute: int = 0, tz: str = "Europe/Madrid") -> dt.datetime:
    return dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(hour, minute), tzinfo=ZoneInfo(tz))


class FrozenClock:
    """The controllable clock (outside the product, so it may be mocked)."""

    def __init__(self, instant: dt.datetime):
        self.instant = instant

    def set(self, instant: dt.datetime) -> dt.datetime:
        self.instant = instant
        return instant

    def __call__(self) -> dt.datetime:
        return self.instant.astimezone(dt.UTC)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    from django.utils import timezone

    frozen = FrozenClock(at(14, 10))
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen


@pytest.fixture(autouse=True)
def survey_default_protocol(request):
    """The default protocol comes from a data migration, which a transactional test's flush removes."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    import importlib

    from django.apps import apps

    request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    importlib.import_module("registry.followup.migrations.0002_default_protocol").load(apps, None)


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@dataclass
class Link:
    invitation: SurveyInvitation
    token: str

    @property
    def event(self) -> FollowUpEvent:
        return self.invitation.event

    @property
    def patient(self):
        return self.invitation.event.patient

    @property
    def url(self) -> str:
        return f"/s/{self.token}/"

    def step(self, name: str) -> str:
        return f"{self.url}?step={name}"


def open_link(patient, event_code: str = "early", day: int = 14) -> Link:
    """What the sweep does on the invitation day: the event's invitation (and its emails) exist."""
    procedure = ProcedureFactory(patient=patient, performed_on=DAY0)
    services.followup_schedule_procedure(procedure_id=procedure.pk, now=at(0, 12))
    event = FollowUpEvent.objects.get(procedure=procedure, event_code=event_code)
    assert lifecycle.open_events(event_ids=[event.pk], now=at(day, 10)).opened == 1
    invitation = SurveyInvitation.objects.select_related("event__patient", "event__site").get(event=event)
    return Link(invitation, tokens.invitation_token(invitation))


@pytest.fixture
def patient(site_a):
    return PatientFactory(
        site=site_a, given_name="Lucía", family_name="Fernández", email="lucia@example.test", preferred_language="es"
    )


@pytest.fixture
def link(patient) -> Link:
    return open_link(patient)


@pytest.fixture
def english_link(site_a) -> Link:
    return open_link(PatientFactory(site=site_a, given_name="Margaret", email="margaret@example.test"))


ODI_ALL_TWO = {
    f"odi_{code}": "2"
    for code in (
        "pain_intensity",
        "personal_care",
        "lifting",
        "walking",
        "sitting",
        "standing",
        "sleeping",
        "sex_life",
        "social_life",
        "travelling",
    )
}
NO_RED_FLAGS = {
    f"rf_{code}": "no"
    for code in (
        "fever_chills",
        "wound",
        "leg_neuro",
        "bladder_bowel",
        "breathless_chest_pain",
        "new_back_pain",
    )
}


def answer_all(client, link: Link, *, vas="6", odi=None, other=None):
    """Post every step of the early survey as a patient would, then send it from the review step."""
    odi = ODI_ALL_TWO if odi is None else odi
    other = {**NO_RED_FLAGS, "analgesic_use": "non_opioid"} if other is None else other
    assert client.post(link.url, {"step": "pain", "vas": vas}).status_code == 302
    assert client.post(link.url, {"step": "odi", **odi}).status_code == 302
    assert client.post(link.url, {"step": "other", **other}).status_code == 302
    return client.post(link.url, {"step": "review", "action": "submit"})


# --- A real SMTP server in the test process (aiosmtpd) -------------------------------------------


class _Received:
    def __init__(self, to, message):
        self.to, self.message = to, message

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return part.get_content()
        return ""


class _Handler:
    def __init__(self):
        self.received: list[_Received] = []

    async def handle_DATA(self, server, session, envelope):
        import email
        import email.policy

        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(_Received(list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, address: str) -> list[_Received]:
        return [r for r in self.received if address in r.to]


@pytest.fixture
def smtp_server():
    import socket
    from types import SimpleNamespace

    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = _Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield SimpleNamespace(port=port, handler=handler)
    controller.stop()
