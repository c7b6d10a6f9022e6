"""Test settings: the real services of the machine (PostgreSQL and Redis), never SQLite.

The database and broker are read from TEST_DATABASE_URL / TEST_CELERY_BROKER_URL so that several
checkouts (or helpers) can run their suites side by side on one machine with their own names.
"""

import os
from pathlib import Path

os.environ.setdefault("DEBUG", "true")
os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry")
os.environ["CELERY_BROKER_URL"] = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("REGISTRY_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))

from registry.settings import *  # noqa: E402,F403
from registry.settings import DATABASES  # noqa: E402

DATABASES["default"]["CONN_MAX_AGE"] = 0
# Tests that check hashing itself use the production list; everything else logs in fast.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Worker tests that talk to a real SMTP server pass EMAIL_URL; everything else keeps mail in memory.
if not os.environ.get("EMAIL_URL"):
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The quarterly build's test cohorts compose in seconds: a stuck composing process fails its test
# within minutes instead of holding the suite.
REPORT_BUILD_CHILD_SECONDS = 300
