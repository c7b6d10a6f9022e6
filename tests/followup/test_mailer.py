"""The hand-held send (``followup.mailer.send``, which holds back the final ``.``) puts on the wire
what Django's own SMTP backend does: a server receives the same message either way."""

from __future__ import annotations

import pytest
from django.core.mail import EmailMultiAlternatives, get_connection

from registry.followup import mailer


def _email() -> EmailMultiAlternatives:
    # Lines a server must see unchanged: one starting with "." (dot-stuffed on the wire), non-ASCII
    # text, and a body without a final line break.
    email = EmailMultiAlternatives(
        subject="Cuestionario de seguimiento — 3 meses",
        body="Hola Íñigo,\n.una línea que empieza por punto\n..y otra\nsin salto final",
        from_email="Registro <registro@example.org>",
        to=["Paciente Ñ <paciente@example.org>"],
        headers={"Date": "Wed, 02 Dec 2026 06:00:00 +0000", "Message-ID": "<fixed@registry.test>"},
    )
    email.attach_alternative("<p>Hola <b>Íñigo</b></p>\n.<p>punto</p>", "text/html")
    return email


def _unbounded(message) -> bytes:
    return message.as_bytes().replace(message.get_boundary().encode(), b"BOUNDARY")


def test_the_held_send_delivers_what_djangos_backend_delivers(smtp_settings):
    held = []
    mailer.send(_email(), before_accept=lambda: held.append(len(smtp_settings.handler.received)))
    with get_connection() as connection:
        assert connection.send_messages([_email()]) == 1

    ours, djangos = smtp_settings.handler.received
    # before_accept ran before the server had the message (nothing received yet).
    assert held == [0]
    assert ours.to == djangos.to == ["paciente@example.org"]
    # The same bytes but for the MIME boundary, which the email library draws at random each time.
    assert _unbounded(ours.message) == _unbounded(djangos.message)
    assert ".una línea que empieza por punto\r\n..y otra" in ours.part("text/plain")


def test_a_failing_before_accept_leaves_the_server_without_the_message(smtp_settings):
    def refuse():
        raise RuntimeError("the previous message's mark could not be recorded")

    with pytest.raises(RuntimeError, match="could not be recorded"):
        mailer.send(_email(), before_accept=refuse)
    mailer.send(_email(), before_accept=lambda: None)  # a fresh connection afterwards

    assert len(smtp_settings.handler.received) == 1
