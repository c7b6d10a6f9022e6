"""Two-factor authentication for every account that sees identified data (REQUIRE_2FA on).

A stolen password alone must not open patient pages nor the admin: the account enrols an
authenticator app (TOTP) and confirms a code after the password, or uses a single-use recovery code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.accounts import services
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _require_2fa(settings):
    settings.REQUIRE_2FA = True


def _code(device: TOTPDevice) -> str:
    """The code the user's phone shows now."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def _logged_in(username: str) -> Client:
    client = Client()
    assert client.post(reverse("login"), {"username": username, "password": PASSWORD}).status_code == 302
    return client


def _enrolled(user) -> tuple[TOTPDevice, list[str]]:
    device = services.authenticator_pending(user=user)
    return services.authenticator_confirm(user=user, code=_code(device))


def test_a_coordinator_enrols_an_authenticator_before_seeing_patients(coordinator_a):
    client = _logged_in("coord_a")

    response = client.get(reverse("patients:list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_setup"))

    page = client.get(response["Location"])
    assert page.status_code == 200 and "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=coordinator_a, confirmed=False)

    done = client.post(reverse("two_factor_setup"), {"code": _code(device), "next": reverse("patients:list")})

    assert done.status_code == 200
    assert len(done.context["codes"]) == 10
    assert client.get(reverse("patients:list")).status_code == 200


def test_an_enrolled_coordinator_confirms_a_code_after_the_password(coordinator_a):
    device, _codes = _enrolled(coordinator_a)
    client = _logged_in("coord_a")

    response = client.get(reverse("patients:list"))
    assert response["Location"].startswith(reverse("two_factor_verify"))
    wrong = client.post(reverse("two_factor_verify"), {"code": "000000" if _code(device) != "000000" else "111111"})
    assert wrong.status_code == 200 and wrong.context["form"].errors
    assert client.get(reverse("patients:list")).status_code == 302

    # django-otp makes the next try wait a second after a wrong code; let that second pass.
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - timedelta(minutes=1), last_t=-1
    )
    right = client.post(reverse("two_factor_verify"), {"code": _code(device), "next": reverse("patients:list")})

    assert right.status_code == 302 and right["Location"] == reverse("patients:list")
    assert client.get(reverse("patients:list")).status_code == 200


def test_a_recovery_code_works_once(coordinator_a):
    _device, codes = _enrolled(coordinator_a)

    first = _logged_in("coord_a")
    assert first.post(reverse("two_factor_verify"), {"code": codes[0].upper()}).status_code == 302
    assert first.get(reverse("patients:list")).status_code == 200

    second = _logged_in("coord_a")
    assert second.post(reverse("two_factor_verify"), {"code": codes[0]}).status_code == 200
    assert second.get(reverse("patients:list")).status_code == 302
    assert services.recovery_codes_left(user=coordinator_a) == 9


def test_a_password_alone_cannot_enrol_a_second_authenticator(coordinator_a):
    _enrolled(coordinator_a)
    thief = _logged_in("coord_a")

    response = thief.get(reverse("two_factor_setup"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("two_factor_verify"))
    assert not TOTPDevice.objects.filter(user=coordinator_a, confirmed=False).exists()


def test_the_admin_needs_the_second_factor_too(admin_user):
    client = _logged_in("registry_admin")

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two_factor_setup"))
    # Also without the middleware's help: the admin site itself refuses an unverified session.
    assert client.get("/admin/accounts/sitemembership/").status_code == 302


def test_an_enrolled_administrator_reaches_the_admin(admin_user):
    device, _codes = _enrolled(admin_user)
    client = _logged_in("registry_admin")
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)

    client.post(reverse("two_factor_verify"), {"code": _code(device)})

    assert client.get("/admin/").status_code == 200


def test_a_reviewer_who_sees_aggregates_only_is_not_asked(reviewer_a):
    client = _logged_in("reviewer_a")

    assert client.get(reverse("reports:dashboard")).status_code == 200


def test_new_recovery_codes_replace_the_old_ones(coordinator_a):
    device, old = _enrolled(coordinator_a)
    client = _logged_in("coord_a")
    client.post(reverse("two_factor_verify"), {"code": old[0]})

    new = client.post(reverse("recovery_codes_new")).context["codes"]

    assert len(new) == 10 and not set(new) & set(old)
    assert _logged_in("coord_a").post(reverse("two_factor_verify"), {"code": old[1]}).status_code == 200


def test_two_factor_is_required_in_production_by_default(tmp_path):
    base = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "REQUIRE_2FA", "DEBUG"}}
    env = {
        **base,
        "DJANGO_SETTINGS_MODULE": "registry.settings",
        "DEBUG": "false",
        "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-0123456789",
        "REGISTRY_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    code = "from django.conf import settings; print(settings.REQUIRE_2FA)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "True", result.stderr
