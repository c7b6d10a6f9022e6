"""Settings for every environment, read from the environment (12-factor).

With nothing set, the registry runs for development on a SQLite file and Celery's filesystem
broker under ``var/``, and writes email to ``var/outbox``. Production sets ``DEBUG=false`` and
must then provide ``SECRET_KEY``; see README.md for every variable.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("REGISTRY_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be set (50+ random characters) when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base for links in emails (patients open them outside any request).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "django_celery_beat",
    "registry.core",
    "registry.patients",
    "registry.accounts",
    "registry.procedures",
    "registry.followup",
    "registry.surveys",
    "registry.api",
    "registry.imports",
    "registry.fractures",
    "registry.rollups",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it must see the outcome of the authentication backends.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "registry.urls"
WSGI_APPLICATION = "registry.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "registry" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "registry.core.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'registry.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file in development: WAL and immediate transactions keep
    # them from tripping over "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A read replica for reports and dashboards (registry/db_router.py); writes stay on the primary.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {**DATABASES["default"], **environ.Env.db_url_config(DATABASE_REPLICA_URL)}
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["registry.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -----------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lockout (registry/accounts/lockout.py): an account from one address after AXES_FAILURE_LIMIT
# failures — the owner elsewhere can still log in — and one address after AXES_ADDRESS_FAILURE_LIMIT
# failures over all accounts (guessing across usernames), higher because a department shares a NAT.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_ADDRESS_FAILURE_LIMIT = env.int("AXES_ADDRESS_FAILURE_LIMIT", default=20)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
# The client address behind the configured trusted proxies (registry/core/network.py), as the
# survey rate limits see it: behind the TLS proxy every client would otherwise be the proxy.
AXES_CLIENT_IP_CALLABLE = "registry.core.network.client_address"
AXES_HANDLER = "registry.accounts.lockout.AccountAndAddressLockout"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Inactivity expiry: every request pushes the expiry forward.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# --- Internationalisation ------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Madrid")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "registry" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- Legacy imports (registry/imports) -----------------------------------------------------------
# A workbook is parsed in a child process under this memory (MB) and time (s) limit.
IMPORT_PARSE_MEMORY_MB = env.int("IMPORT_PARSE_MEMORY_MB", default=2048)
IMPORT_PARSE_SECONDS = env.int("IMPORT_PARSE_SECONDS", default=120)
# The parsed rows of a previewed import (PHI) are kept this long for its commit, then deleted.
IMPORT_RETENTION_DAYS = env.int("IMPORT_RETENTION_DAYS", default=7)

# --- Email --------------------------------------------------------------------------------------
# EMAIL_URL like smtp://user:pass@host:1025 or smtp+tls://...; without it, email goes to files
# in var/outbox that a developer can read.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "outbox"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Spine registry <registry@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Follow-up engine (registry/followup) --------------------------------------------------------
# Key for survey-link tokens; by default derived from SECRET_KEY (registry/followup/tokens.py).
SURVEY_TOKEN_KEY = env.str("SURVEY_TOKEN_KEY", default="")
# A message left "sending" longer than this by a dead worker is sent again (> the send task's limit).
FOLLOWUP_SEND_LEASE_SECONDS = env.int("FOLLOWUP_SEND_LEASE_SECONDS", default=600)
# Temporary SMTP errors are retried with back-off (base × 2^n, at most 30 min, inside the site's
# sending calendar), then recorded as failed.
FOLLOWUP_SEND_RETRY_SECONDS = env.int("FOLLOWUP_SEND_RETRY_SECONDS", default=60)
FOLLOWUP_SEND_MAX_ATTEMPTS = env.int("FOLLOWUP_SEND_MAX_ATTEMPTS", default=8)
# A due message whose send task was queued this long ago and has not run (broker emptied, task
# lost) is queued again by the sweep: about two sweeps, so an outage costs minutes, not ten.
FOLLOWUP_REDISPATCH_SECONDS = env.int("FOLLOWUP_REDISPATCH_SECONDS", default=120)
# A consented procedure still without events this long after it was recorded is planned by the sweep.
FOLLOWUP_PLAN_GRACE_SECONDS = env.int("FOLLOWUP_PLAN_GRACE_SECONDS", default=120)

# --- Quarterly reports (reports/services.py) -----------------------------------------------------
# Processes that compose one build's reports (statistics, charts, PDF, XLSX) after one load of
# the data; each holds one report's working set beside the shared frames (BENCHMARKS.md, "Reports").
REPORT_BUILD_PROCESSES = env.int("REPORT_BUILD_PROCESSES", default=min(4, os.cpu_count() or 1))
# A composing process that has not finished by then is stopped and the build fails (and is retried).
REPORT_BUILD_CHILD_SECONDS = env.int("REPORT_BUILD_CHILD_SECONDS", default=3600)

# --- Site monitoring (reports/site_monitoring.py; DATA_DICTIONARY.md section 6) ------------------
# Bernoulli CUSUM per site: out-of-control rate = multiple × the benchmark rate; signal at h.
MONITORING_CUSUM_MULTIPLE = env.float("MONITORING_CUSUM_MULTIPLE", default=2.0)
MONITORING_CUSUM_H = env.float("MONITORING_CUSUM_H", default=4.5)

# --- Patient surveys (registry/surveys) ----------------------------------------------------------
# Guessing: links that match no invitation, per client address (see TRUSTED_PROXY_*). A genuine
# link is never refused for its address, only when that one link is flooded.
SURVEY_UNKNOWN_LINK_RATE_LIMIT = env.str("SURVEY_UNKNOWN_LINK_RATE_LIMIT", default="20/h")
SURVEY_LINK_RATE_LIMIT = env.str("SURVEY_LINK_RATE_LIMIT", default="120/m")
# Shown on the page of a link nobody knows (no site to name); a site's own contact otherwise.
REGISTRY_CONTACT_EMAIL = env.str("REGISTRY_CONTACT_EMAIL", default="")
REGISTRY_CONTACT_PHONE = env.str("REGISTRY_CONTACT_PHONE", default="")

# --- Celery -------------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # One folder for in and out so that web, worker and beat (separate processes) share it.
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = False
# Workers scale out by queue: a report build or an import's planning never waits in front of an
# invitation. One worker may consume all queues (the demo, the tests); production runs a worker
# per queue (docker-compose.yml). Patterns are tried in order; the rest go to "celery".
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_QUEUE_NAMES = ("celery", "send", "plan", "reports")
CELERY_TASK_QUEUES = [Queue(name) for name in CELERY_QUEUE_NAMES]
CELERY_TASK_ROUTES = {
    "registry.followup.tasks.send_*": {"queue": "send"},
    "registry.followup.tasks.followup_sweep_task": {"queue": "send"},
    "registry.followup.tasks.*": {"queue": "plan"},
    "registry.imports.tasks.*": {"queue": "plan"},
    "reports.tasks.*": {"queue": "reports"},
    "registry.rollups.tasks.*": {"queue": "reports"},
}
# The single beat schedule (STYLE.md item 5); each app adds its entries in registry/schedule.py.
from registry.schedule import CELERY_BEAT_SCHEDULE  # noqa: E402,F401

# --- REST framework -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "registry.api.authentication.ThrottledTokenAuthentication",
    ],
    # Bounded body size and JSON depth (registry/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "registry.api.parsers.BoundedJSONParser",
        "registry.api.parsers.BoundedFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_USER_RATE", default="2000/hour"),
        "anon": env.str("API_ANON_RATE", default="100/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vertebral augmentation registry API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # registry/api: request and response components apart (read-only fields), named choice sets.
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "registry.api.schema.document_access_answers",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ConsentStatusEnum": "registry.patients.models.ConsentStatus",
        "OsteoporosisTherapyEnum": "registry.patients.models.OsteoporosisTherapy",
        "ViscosityEnum": "registry.procedures.models.Viscosity",
        "EventStatusEnum": "registry.followup.models.EventStatus",
        "BoneHealthActionStatusEnum": "registry.patients.models.BoneHealthActionStatus",
        "WorklistStatusEnum": "registry.followup.models.WorklistStatus",
        "BoneHealthOutcomeEnum": "registry.api.serializers.BONE_HEALTH_OUTCOME_CHOICES",
        "TherapyTakenAnswerEnum": "registry.api.serializers.THERAPY_ANSWER_CHOICES",
    },
}

# --- Cache (rate limits, axes) ------------------------------------------------------------------
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# --- Security -----------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

# --- Hostile networks and inputs (issue #12) ----------------------------------------------------
# Which reverse proxies may tell us the client's address (registry/core/network.py); none by
# default. docker-compose.yml's Caddy is one proxy: TRUSTED_PROXY_COUNT=1.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
TRUSTED_PROXY_ADDRESSES = env.list("TRUSTED_PROXY_ADDRESSES", default=[])
for _proxy in TRUSTED_PROXY_ADDRESSES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXY_ADDRESSES: {exc}") from exc
# X-Forwarded-Proto is believed only when a proxy that sets it is configured in front.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("TRUST_X_FORWARDED_PROTO", default=False) else None
)
# API bodies and JSON bounded before anything parses them (registry/api/parsers.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
JSON_MAX_DEPTH = 32
# The .env.example placeholders must never reach production.
PLACEHOLDER_SECRETS = ("change-me", "changeme")
if not DEBUG:
    for name, value in (("SECRET_KEY", SECRET_KEY), ("the database password", DATABASES["default"].get("PASSWORD"))):
        if any(marker in str(value or "").lower() for marker in PLACEHOLDER_SECRETS):
            raise ImproperlyConfigured(f"{name} is still the .env.example placeholder: set a real secret in .env.")

# --- Logging: no PHI goes into log lines; log ids (study ids, row ids) only. ---------------------
# Survey and stop links, password-reset links: their token is replaced before any handler writes.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "registry.core.logredact.RedactTokensFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_tokens"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Replace Django's default handlers (unfiltered: "Not Found: /s/<token>/", runserver's
        # request lines) with the filtered one.
        "django": {"handlers": [], "propagate": True},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# --- Issue #12: API tokens, two-factor authentication, CSP and Permissions-Policy ----------------
# API tokens (registry/api/authentication.py): hashed at rest, expiring, revocable; wrong tokens
# from one address are throttled.
# Before the registry's apps, whose admin modules replace knox's token admin.
_before = INSTALLED_APPS.index("registry.core")
INSTALLED_APPS[_before:_before] = [
    "knox",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
]
REST_KNOX = {"TOKEN_TTL": timedelta(days=env.int("API_TOKEN_DAYS", default=90)), "AUTO_REFRESH": False}
API_TOKEN_FAILURE_LIMIT = env.int("API_TOKEN_FAILURE_LIMIT", default=10)
API_TOKEN_FAILURE_WINDOW_SECONDS = env.int("API_TOKEN_FAILURE_WINDOW_MINUTES", default=15) * 60

# Two-factor authentication (registry/accounts/middleware.py): every account that sees identified
# data (coordinators, investigators, administrators) confirms a TOTP code or a recovery code after
# its password. On by default in production (DEBUG off); off in development, the demo and the
# tests, which turn it on where they check it (tests/security/test_two_factor.py).
REQUIRE_2FA = env.bool("REQUIRE_2FA", default=not DEBUG)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Spine registry")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django_otp.middleware.OTPMiddleware") + 1,
    "registry.accounts.middleware.TwoFactorRequiredMiddleware",
)

# Content-Security-Policy (django-csp): no inline script or style anywhere, no third-party origin.
# Permissions-Policy (registry/core/headers.py): the registry uses no browser feature below.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
MIDDLEWARE.insert(
    MIDDLEWARE.index("csp.middleware.CSPMiddleware") + 1, "registry.core.headers.PermissionsPolicyMiddleware"
)
from csp.constants import NONCE  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # A nonce only where a page asks for one (django-csp adds it lazily): Redoc's run-time styles.
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        # Redoc parses the schema in a web worker it creates from a blob.
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
)
