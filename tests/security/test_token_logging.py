"""Attack: read live survey links out of the logs.

Before: gunicorn's access log (as shipped) and Django's "Not Found" warnings wrote
``/s/<token>/``, and a token from a log opened a usable survey. Here a real gunicorn (the shipped
gunicorn.conf.py, on a free port) serves a patient's survey flow, a real Celery worker sends the
invitation email to an SMTP sink, and every log they wrote is searched for the tokens.
"""

import base64
import http.cookiejar
import logging
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from registry.core.logredact import REDACTED, RedactTokensFilter, redact
from registry.followup import lifecycle, tokens
from registry.followup import services as followup_services
from registry.followup.models import FollowUpEvent, MessageKind, OutboundMessage, SurveyInvitation
from registry.followup.tasks import send_messages_task
from tests.conftest import database_url_for_tests
from tests.factories import PatientFactory, ProcedureFactory
from tests.followup.smtp import SmtpServer, free_port

ROOT = Path(__file__).resolve().parents[2]


def invented_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


class Browser:
    """A cookie-keeping HTTP client for the patient (urllib follows the post-redirect-get)."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, data: dict) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode()
        return self._open(urllib.request.Request(self.base + path, data=body, headers={"Referer": self.base + path}))

    def _open(self, request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    """The shipped gunicorn.conf.py on a free local port; its access, error and stderr logs."""
    port = free_port()
    logs = {name: tmp_path / f"gunicorn-{name}.log" for name in ("access", "error", "stderr")}
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "registry.settings_test",
        "TEST_DATABASE_URL": database_url_for_tests(),
        "TEST_CELERY_BROKER_URL": "memory://",
        "REGISTRY_VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "gunicorn", "registry.wsgi:application", "--config", "gunicorn.conf.py"]
    cmd += ["--bind", f"127.0.0.1:{port}", "--workers", "1"]
    cmd += ["--access-logfile", str(logs["access"]), "--error-logfile", str(logs["error"])]
    with logs["stderr"].open("w") as stderr:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=stderr, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        status, _ = Browser(base).get("/healthz") if _listening(port) else (None, "")
        if status in (200, 503):
            break
        time.sleep(0.3)
    else:
        pytest.fail("gunicorn did not start:\n" + logs["error"].read_text(errors="replace")[-3000:])
    yield base, logs
    proc.terminate()
    proc.wait(timeout=20)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def open_invitation(site) -> tuple[SurveyInvitation, str]:
    """A patient 15 days after their procedure (real clock): the early survey's link exists."""
    patient = PatientFactory(site=site, email="paciente@example.test")
    procedure = ProcedureFactory(patient=patient, performed_on=timezone.localdate() - timedelta(days=15))
    followup_services.followup_schedule_procedure(procedure_id=procedure.pk)
    event = FollowUpEvent.objects.get(procedure=procedure, event_code="early")
    with transaction.atomic():
        assert lifecycle.open_events(event_ids=[event.pk], now=timezone.now()).opened == 1
    invitation = SurveyInvitation.objects.get(event=event)
    return invitation, tokens.invitation_token(invitation)


@pytest.mark.worker
@pytest.mark.slow
def test_no_log_of_gunicorn_django_or_celery_holds_a_survey_or_reset_token(gunicorn, start_worker, site_a):
    base, logs = gunicorn
    smtp = SmtpServer().start()
    try:
        worker = start_worker(env={"EMAIL_URL": smtp.url})
        # Given a patient whose invitation email the worker sends (the link is in it)
        invitation, token = open_invitation(site_a)
        message_ids = list(
            OutboundMessage.objects.filter(kind=MessageKind.INVITATION, patient=invitation.event.patient).values_list(
                "pk", flat=True
            )
        )
        send_messages_task.delay(message_ids)
        deadline = time.monotonic() + 60
        while not smtp.handler.received and time.monotonic() < deadline:
            time.sleep(0.2)
        assert token in smtp.handler.received[0].part("text/plain"), "the email carries the live link"
    finally:
        smtp.stop()

    # When the patient opens the link, answers a step, opens the stop page and a link with the
    # token in its query; someone guesses a link; someone follows a password-reset link
    patient = Browser(base)
    status, page = patient.get(f"/s/{token}/")
    assert status == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert patient.post(f"/s/{token}/", {"step": "pain", "vas": "6", "csrfmiddlewaretoken": csrf})[0] == 200
    assert patient.get(f"/s/{token}/stop/")[0] == 200
    assert patient.get(f"/s/{token}/?lang=es&token={token}")[0] == 200
    assert patient.get(f"/s/{token}/thanks/")[0] == 404
    guessed = invented_token()
    assert Browser(base).get(f"/s/{guessed}/")[0] == 404
    reset_uid, reset_token = "MTIz", "c4d5e6-" + secrets.token_hex(16)
    Browser(base).get(f"/reset/{reset_uid}/{reset_token}/")
    worker.stop()

    # Then no log holds any of them, though every request was logged
    written = {name: path.read_text(errors="replace") for name, path in logs.items()}
    written["worker"] = worker.output()
    for name, text in written.items():
        for secret in (token, guessed, reset_token):
            assert secret not in text, f"{name} log holds a token"
    assert written["access"].count(f"/s/{REDACTED}") >= 6
    assert f"/reset/{REDACTED}/{REDACTED}" in written["access"]
    assert f"Not Found: /s/{REDACTED}" in written["stderr"], "django.request's 404 warning, redacted"
    assert "send_messages_task" in written["worker"] and "succeeded" in written["worker"]


def test_the_django_log_handlers_redact_before_writing(caplog):
    # The same filter sits on the handler settings.LOGGING configures (console)
    from django.conf import settings

    assert settings.LOGGING["handlers"]["console"]["filters"] == ["redact_tokens"]
    token = invented_token()
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s", (f"/s/{token}/",), None)
    RedactTokensFilter().filter(record)
    assert record.getMessage() == f"Not Found: /s/{REDACTED}/"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"GET /s/abc_DEF-123/stop/?lang=es HTTP/1.1" 200', f'"GET /s/{REDACTED}/stop/?lang=es HTTP/1.1" 200'),
        ("https://registry.test/s/abc123/", f"https://registry.test/s/{REDACTED}/"),
        ("/s/entry/12/34/", "/s/entry/12/34/"),
        ("/accounts/reset/MTIz/c4d5e6-abc/", f"/accounts/reset/{REDACTED}/{REDACTED}/"),
        ("/api/x/?token=abc&event_code=early", f"/api/x/?token={REDACTED}&event_code=early"),
    ],
)
def test_redaction_keeps_the_shape_of_the_line(line, expected):
    assert redact(line) == expected
