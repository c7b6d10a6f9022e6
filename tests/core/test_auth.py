from django.conf import settings
from django.test import override_settings
from django.urls import reverse

import registry.settings as production_settings


def _login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_passwords_are_hashed_with_argon2_in_production():
    assert production_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_sessions_expire_after_thirty_idle_minutes_by_default():
    assert production_settings.SESSION_COOKIE_AGE == 30 * 60
    assert production_settings.SESSION_SAVE_EVERY_REQUEST is True


def test_coordinator_logs_in_and_sees_their_site(client, coordinator_a, password):
    response = _login(client, "coord_a", password)
    assert response.status_code == 302
    home = client.get(reverse("home"))
    assert "TOL" in home.content.decode()


def test_five_failed_logins_lock_the_account_even_with_the_right_password(client, coordinator_a, password):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(5):
        _login(client, "coord_a", "wrong password")

    response = _login(client, "coord_a", password)

    assert response.status_code == 429
    assert "Account locked" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_four_failed_logins_do_not_lock(client, coordinator_a, password):
    for _ in range(4):
        _login(client, "coord_a", "wrong password")
    assert _login(client, "coord_a", password).status_code == 302


def test_lockout_ends_after_the_cool_off(client, coordinator_a, password):
    from datetime import timedelta

    from axes.models import AccessAttempt

    for _ in range(5):
        _login(client, "coord_a", "wrong password")
    # The cool-off is measured from the last failure; move it into the past.
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time - timedelta(minutes=16))
    assert _login(client, "coord_a", password).status_code == 302


def test_pages_need_login(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@override_settings(SESSION_COOKIE_AGE=60)
def test_idle_session_cookie_age_is_configurable(client, coordinator_a, password):
    _login(client, "coord_a", password)
    client.get(reverse("home"))
    assert client.session.get_expiry_age() == 60
