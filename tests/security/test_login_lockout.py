"""Login lockout as the attack tried it: guessing spread over many usernames from one address
(28 failures over 7 usernames went through), and locking a known account out on purpose.

Limits (settings): an account from one address locks after AXES_FAILURE_LIMIT = 5 failures; an
address locks for every account after AXES_ADDRESS_FAILURE_LIMIT = 20 failures in all.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

import registry.settings as production_settings
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ATTACKER = "198.51.100.66"
HOSPITAL = "10.20.30.40"


def _login(username: str, password: str, address: str):
    return Client(REMOTE_ADDR=address).post(reverse("login"), {"username": username, "password": password})


def test_the_limits_are_five_per_account_and_address_and_twenty_per_address():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_ADDRESS_FAILURE_LIMIT == 20


def test_guessing_across_seven_usernames_from_one_address_is_blocked():
    users = [UserFactory(username=f"staff{i}").username for i in range(7)]
    bystander = UserFactory(username="bystander")

    codes = [_login(users[i % 7], "Summer2026!", ATTACKER).status_code for i in range(28)]

    # 19 failures answer with the form again; the 20th locks the address.
    assert codes == [200] * 19 + [429] * 9
    # From that address even a right password is refused, for any account...
    assert _login(bystander.username, PASSWORD, ATTACKER).status_code == 429
    # ...while the same account logs in from elsewhere.
    assert _login(bystander.username, PASSWORD, HOSPITAL).status_code == 302


def test_an_attacker_cannot_lock_the_owner_out_from_everywhere(coordinator_a):
    codes = [_login("coord_a", "wrong password", ATTACKER).status_code for _ in range(5)]

    assert codes == [200, 200, 200, 200, 429]
    assert _login("coord_a", PASSWORD, ATTACKER).status_code == 429
    # The coordinator at the hospital is not locked out.
    assert _login("coord_a", PASSWORD, HOSPITAL).status_code == 302


def test_logging_in_to_ones_own_account_does_not_clear_the_address_record(coordinator_a):
    for i in range(19):
        _login(f"victim{i % 4}", "guess", ATTACKER)

    # The attacker's own valid account resets only its own failures...
    assert _login("coord_a", PASSWORD, ATTACKER).status_code == 302
    # ...so the twentieth guess still locks the address.
    assert _login("victim0", "guess", ATTACKER).status_code == 429


def test_the_deploy_check_runs_with_the_axes_warnings_on():
    # axes.W006 (no lockout by address) used to be silenced; nothing is silenced now, and
    # tests/core/test_settings.py runs check --deploy at warning level.
    assert production_settings.SILENCED_SYSTEM_CHECKS == []
    assert "ip_address" in production_settings.AXES_LOCKOUT_PARAMETERS


def test_behind_the_trusted_proxy_one_guesser_does_not_lock_out_the_hospital(settings):
    """Behind the compose TLS proxy every request comes from the proxy's address: lockout by
    address must count the client the proxy names, or one guesser locks out every user."""
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "172.18.0.5"
    bystander = UserFactory(username="bystander")

    def via_proxy(username, password, client_address):
        return Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=client_address).post(
            reverse("login"), {"username": username, "password": password}
        )

    codes = [via_proxy(f"staff{i % 7}", "Summer2026!", ATTACKER).status_code for i in range(20)]

    assert codes[-1] == 429
    assert via_proxy(bystander.username, PASSWORD, ATTACKER).status_code == 429
    assert via_proxy(bystander.username, PASSWORD, HOSPITAL).status_code == 302
