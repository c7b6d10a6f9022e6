"""Password reset by email (Django's views, the registry's templates, English and Spanish)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "cement-volume-2.5-ml"


def _reset_link(settings) -> str:
    (email,) = mail.outbox
    return re.search(re.escape(settings.SITE_URL) + r"(/accounts/reset/\S+/)", email.body).group(1)


def test_a_coordinator_resets_a_forgotten_password_from_the_emailed_link(coordinator_a, settings):
    settings.SITE_URL = "https://registry.hospital.test"
    client = Client()
    assert "Forgot your password?" in client.get(reverse("login")).content.decode()

    sent = client.post(reverse("password_reset"), {"email": coordinator_a.email}, HTTP_HOST="evil.test")

    assert sent.status_code == 400  # a forged Host header is refused before any email is built
    sent = client.post(reverse("password_reset"), {"email": coordinator_a.email})
    assert sent["Location"] == reverse("password_reset_done")
    assert mail.outbox[0].subject == "Spine registry: reset your password"
    link = _reset_link(settings)

    form = client.get(link, follow=True)
    assert form.context["validlink"]
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert done["Location"] == reverse("password_reset_complete")
    assert client.post(reverse("login"), {"username": "coord_a", "password": NEW_PASSWORD}).status_code == 302
    # The link worked once.
    assert not Client().get(link, follow=True).context["validlink"]


def test_an_unknown_address_gets_the_same_answer_and_no_email(db):
    response = Client().post(reverse("password_reset"), {"email": "nobody@example.test"})

    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_the_reset_pages_and_email_are_in_spanish(coordinator_a):
    client = Client(HTTP_ACCEPT_LANGUAGE="es")

    assert "Restablecer la contraseña" in client.get(reverse("password_reset")).content.decode()
    client.post(reverse("password_reset"), {"email": coordinator_a.email})

    assert mail.outbox[0].subject == "Registro de columna: restablecer la contraseña"
    assert "abra este enlace" in mail.outbox[0].body
