"""API tokens as the attack found them: readable in the database and the admin, never expiring,
surviving logout, and guessable without limit. Now: hashed, expiring, revocable, throttled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    # Wrong-token counters live in the cache.
    cache.clear()
    yield
    cache.clear()


def _issue(username, capsys, *args) -> str:
    call_command("issue_api_token", username, *args)
    return capsys.readouterr().out.strip()


def _get(token: str, address: str = "203.0.113.7"):
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/sites/")


def test_a_dump_of_the_token_table_does_not_contain_the_token(coordinator_a, capsys):
    token = _issue("coord_a", capsys)
    assert _get(token).status_code == 200

    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM knox_authtoken t")
        dump = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT to_regclass('authtoken_token')")
        old_plaintext_table = cursor.fetchone()[0]

    assert len(token) == 64 and dump
    assert token not in dump
    # Only the 15-character lookup prefix is stored; the secret after it is nowhere.
    assert token[15:] not in dump
    assert old_plaintext_table is None


def test_the_admin_lists_tokens_without_their_secret(coordinator_a, admin_user, client_for, capsys):
    token = _issue("coord_a", capsys)

    page = client_for(admin_user).get("/admin/knox/authtoken/").content.decode()

    # Listed by user and lookup prefix (the row's key in links is the hash, useless to a thief).
    assert "coord_a" in page and token[:15] in page
    assert token not in page and token[15:] not in page


def test_a_token_expires_after_api_token_days(coordinator_a, capsys):
    token = _issue("coord_a", capsys)
    issued = AuthToken.objects.get()
    # created and expiry are two clock readings a moment apart.
    assert timedelta(days=90) - (issued.expiry - issued.created) < timedelta(seconds=5)

    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))

    assert _get(token).status_code == 401


def test_a_client_revokes_its_token_and_it_stops_working(coordinator_a, capsys):
    token = _issue("coord_a", capsys)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert client.post("/api/auth/logout/").status_code == 204

    assert _get(token).status_code == 401
    assert not AuthToken.objects.exists()


def test_revoking_all_tokens_after_a_leak(coordinator_a, capsys):
    leaked = _issue("coord_a", capsys)
    other = _issue("coord_a", capsys)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {other}")

    assert client.post("/api/auth/logoutall/").status_code == 204

    assert _get(leaked).status_code == 401
    assert _get(other).status_code == 401


def test_rotating_revokes_the_old_token(coordinator_a, capsys):
    first = _issue("coord_a", capsys)
    second = _issue("coord_a", capsys, "--rotate")

    assert first != second
    assert _get(first).status_code == 401
    assert _get(second).status_code == 200


def test_the_command_revokes_without_issuing(coordinator_a, capsys):
    token = _issue("coord_a", capsys)
    assert _issue("coord_a", capsys, "--revoke") == ""
    assert _get(token).status_code == 401


def test_a_reviewer_gets_no_token(reviewer_a):
    with pytest.raises(Exception, match="no coordinator or investigator role"):
        call_command("issue_api_token", "reviewer_a")
    assert not AuthToken.objects.exists()


def test_guessing_tokens_from_one_address_is_throttled(coordinator_a, capsys, settings):
    settings.API_TOKEN_FAILURE_LIMIT = 3
    token = _issue("coord_a", capsys)
    attacker = "198.51.100.66"

    codes = [_get("0" * 64, attacker).status_code for _ in range(3)]
    # The allowance is used up: even a right token is refused from that address for the window...
    assert codes == [401, 401, 401]
    assert _get("0" * 64, attacker).status_code == 429
    assert _get(token, attacker).status_code == 429
    # ...while the integration at its own address goes on working.
    assert _get(token, "203.0.113.7").status_code == 200


def test_an_administrator_issues_a_token_in_the_admin_and_sees_it_once(coordinator_a, admin_user, client_for):
    admin = client_for(admin_user)

    response = admin.post("/admin/knox/authtoken/add/", {"user": coordinator_a.pk, "days": "30"}, follow=True)

    (message,) = [str(m) for m in response.context["messages"] if "shown once" in str(m)]
    token = message.rsplit(" ", 1)[1]
    issued = AuthToken.objects.get()
    assert issued.user == coordinator_a and timedelta(days=30) - (issued.expiry - issued.created) < timedelta(seconds=5)
    assert _get(token).status_code == 200
    assert token not in admin.get(f"/admin/knox/authtoken/{issued.pk}/change/").content.decode()


def test_the_admin_refuses_a_token_for_a_reviewer(reviewer_a, admin_user, client_for):
    response = client_for(admin_user).post("/admin/knox/authtoken/add/", {"user": reviewer_a.pk})

    assert response.status_code == 200 and "no coordinator or investigator role" in response.content.decode()
    assert not AuthToken.objects.exists()
