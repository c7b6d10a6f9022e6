"""Attack: read every patient email in the mail catcher, skip TLS, or start on the example secrets.

Before: the mail catcher's unauthenticated UI was published on 8025 and .env.example sent all
mail to it; gunicorn was published on 8000; X-Forwarded-Proto was trusted from anyone; the
.env.example SECRET_KEY passed the production check. The Docker engine and `docker compose` are
not available here, so the file is validated structurally (what `docker compose config` checks
that matters here: references resolve, required variables are provided).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PRODUCTION = {name: service for name, service in SERVICES.items() if not service.get("profiles")}


def example_env() -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if re.match(r"^[A-Z_]+=", line)
    )
    return dict(pairs)


def manage(args: list[str], env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "registry.settings", "REGISTRY_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_only_the_tls_proxy_publishes_ports():
    published = {name for name, service in PRODUCTION.items() if service.get("ports")}
    assert published == {"proxy"}
    assert SERVICES["proxy"]["image"].startswith("caddy:")
    assert {port.split(":")[-1] for port in SERVICES["proxy"]["ports"]} >= {"80", "443"}


def test_the_proxy_forwards_to_gunicorn_which_is_not_published():
    caddyfile = (ROOT / "Caddyfile").read_text()
    assert re.search(r"^\s*reverse_proxy web:8000\s*$", caddyfile, re.M)
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in SERVICES["proxy"]["volumes"]
    assert "ports" not in SERVICES["web"]
    gunicorn_conf = (ROOT / "gunicorn.conf.py").read_text()
    assert 'bind = "0.0.0.0:8000"' in gunicorn_conf
    # Only the proxy's header is believed, and only because compose says one proxy is in front
    app_env = SERVICES["web"]["environment"]
    assert app_env["TRUSTED_PROXY_COUNT"] == "1" and app_env["TRUST_X_FORWARDED_PROTO"] == "true"


def test_the_mail_catcher_exists_only_in_the_dev_profile_and_only_on_loopback():
    catcher = SERVICES["mailcatcher"]
    assert catcher["profiles"] == ["dev"]
    assert all(port.startswith("127.0.0.1:") for port in catcher["ports"])
    assert "mailcatcher" not in example_env()["EMAIL_URL"]
    for name, service in PRODUCTION.items():
        assert "mailcatcher" not in str(service.get("depends_on", "")), name


def test_compose_references_resolve_and_required_variables_are_in_env_example():
    volumes = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, (name, dependency)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in volumes, (name, volume)
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required and required <= set(example_env())


def test_production_refuses_the_env_example_placeholder_secret_key(tmp_path):
    env = example_env()
    result = manage(
        ["check"],
        {"DEBUG": "false", "SECRET_KEY": env["SECRET_KEY"], "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"},
        tmp_path,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is still the .env.example placeholder" in result.stderr


def test_production_refuses_the_env_example_database_password(tmp_path):
    env = example_env()
    database_url = f"postgres://registry:{env['POSTGRES_PASSWORD']}@postgres:5432/registry"
    result = manage(
        ["check"],
        {
            "DEBUG": "false",
            "SECRET_KEY": "k" * 20 + "-a-real-random-production-secret-0123456789",
            "DATABASE_URL": database_url,
        },
        tmp_path,
    )
    assert result.returncode != 0
    assert "the database password is still the .env.example placeholder" in result.stderr


def test_x_forwarded_proto_is_trusted_only_when_configured(tmp_path):
    show = ["shell", "--no-imports", "-c", "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"]
    assert manage(show, {}, tmp_path).stdout.strip() == "None"
    trusted = manage(show, {"TRUST_X_FORWARDED_PROTO": "true"}, tmp_path).stdout.strip()
    assert trusted == "('HTTP_X_FORWARDED_PROTO', 'https')"
