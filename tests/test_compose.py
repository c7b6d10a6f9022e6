"""docker-compose.yml cannot be run here (no Docker engine); check that it points at real code."""

import importlib
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands
from django.urls import resolve

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _import_target(target: str):
    module, _, attr = target.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attr) if attr else loaded


def test_compose_has_every_production_service_with_healthchecks():
    for name in ("postgres", "redis", "web", "worker", "beat", "mailcatcher"):
        assert name in SERVICES, name
    for name in ("postgres", "redis", "web", "worker", "mailcatcher"):
        assert "healthcheck" in SERVICES[name], name
    assert any(v.startswith("pgdata:") for v in SERVICES["postgres"]["volumes"])


def test_web_worker_and_beat_share_one_image_definition():
    images = {SERVICES[name]["image"] for name in ("web", "worker", "beat", "migrate")}
    builds = {SERVICES[name]["build"] for name in ("web", "worker", "beat", "migrate")}
    assert len(images) == 1 and len(builds) == 1


@pytest.mark.parametrize("name", ["web", "worker", "beat", "migrate"])
def test_each_service_command_refers_to_code_that_exists(name):
    command = SERVICES[name]["command"]
    program = command[0]
    if program == "gunicorn":
        app = _import_target(command[1])
        assert callable(app)
    elif program == "celery":
        assert command[1] == "-A"
        app = importlib.import_module(command[2]).celery_app
        assert command[3] in {"worker", "beat"}
        assert app.main == "registry"
        if "--scheduler" in command:
            assert _import_target(command[command.index("--scheduler") + 1])
    elif program == "python":
        assert command[1] == "manage.py"
        assert (ROOT / "manage.py").exists()
        assert command[2] in get_commands()
    else:
        pytest.fail(f"unknown program {program} in {name}")


def test_web_healthcheck_url_exists():
    test = " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert "/healthz" in test
    assert resolve("/healthz").url_name == "healthz"


def test_env_example_names_every_required_variable():
    example = (ROOT / ".env.example").read_text()
    for var in ("SECRET_KEY", "POSTGRES_PASSWORD", "ALLOWED_HOSTS", "EMAIL_URL", "SITE_URL", "DEBUG"):
        assert f"{var}=" in example


def test_dockerfile_default_command_matches_the_web_service():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "registry.wsgi:application" in dockerfile


def test_every_queue_has_a_worker_and_reports_never_share_one_with_sends():
    from django.conf import settings

    consumed = {}
    for name, service in SERVICES.items():
        command = service.get("command") or []
        if command[3:4] == ["worker"]:
            queues = next(arg.split("=", 1)[1] for arg in command if arg.startswith("--queues="))
            consumed[name] = set(queues.split(","))
    assert set().union(*consumed.values()) == set(settings.CELERY_QUEUE_NAMES)
    assert not any({"send", "reports"} <= queues for queues in consumed.values())
