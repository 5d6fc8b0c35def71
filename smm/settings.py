"""Civic Desk settings: one module, configured by typed environment variables (see README)."""

from __future__ import annotations

import secrets
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from xstatic.pkg import bootstrap as xstatic_bootstrap

from smm.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# pytest (make test) imports these settings; nothing else we run does.
TESTING = "pytest" in sys.modules
# Where a secret may be made once and kept in var/ instead of coming from the environment: one development
# machine (DEBUG, as `make run` sets), the tests, or LOCAL_KEYS=1 said out loud (benchmarks on a workstation).
# Anywhere else (production) a missing secret stops the process at start: a key made in var/ differs per machine
# and container and vanishes with them, which would leave the audit checkpoints unverifiable.
LOCAL_KEYS = env_bool("LOCAL_KEYS", DEBUG or TESTING)
# Commands that write or check code and never sign or verify anything: they get a throwaway key held in memory
# (nothing written to var/), so a developer's `manage.py makemigrations --check` needs no secrets.
CODE_ONLY_COMMAND = Path(sys.argv[0]).name == "manage.py" and sys.argv[1:2] == ["makemigrations"]


def _secret(name: str, filename: str, length: int) -> str:
    value = env_str(name, "")
    if not value and CODE_ONLY_COMMAND and not LOCAL_KEYS:
        return secrets.token_urlsafe(length)
    if not value:
        if not LOCAL_KEYS:
            raise ImproperlyConfigured(
                f"{name} is not set. In production set it in the environment, the same value on every machine "
                f"(README, docs/audit.md); only DEBUG=1 (make run), the tests or LOCAL_KEYS=1 make one in var/."
            )
        key_file = VAR_DIR / filename
        if not key_file.exists():
            VAR_DIR.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(length))
            key_file.chmod(0o600)
        value = key_file.read_text().strip()
    if len(value) < 32:
        raise ImproperlyConfigured(f"{name} must be at least 32 characters long.")
    return value


SECRET_KEY = _secret("SECRET_KEY", "secret_key", 50)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "smm",
    "audit",
    "accounts",
    "channels_app",
    "inbox",
    "approvals",
    "metrics",
]

MIDDLEWARE = [
    "smm.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "smm.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Before OrganisationMiddleware, which tells people why it signed them out.
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.OrganisationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "smm.urls"
WSGI_APPLICATION = "smm.wsgi.application"
ASGI_APPLICATION = "smm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.organisation",
                "channels_app.context_processors.channel_alerts",
            ],
        },
    },
]
FORM_RENDERER = "smm.forms.FormRenderer"

# Embedded default: SQLite under var/, so `make run` needs no server. `make test` sets PostgreSQL.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'civicdesk.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; wait for the lock instead of failing while worker and web both write. IMMEDIATE:
    # a transaction takes the write lock when it begins, so one that reads before it writes (ingest) waits for
    # another writer; a deferred one would fail at once with "database is locked" however long the timeout.
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=20, transaction_mode="IMMEDIATE")
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Short OLTP queries: JIT never pays off (its compile time dominated searches with high cost estimates),
    # and parallel workers cost more to start (10-50 ms on a busy 2-core machine) than a LIMIT 51 page takes.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off -c max_parallel_workers_per_gather=0"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses locked-out credentials before any password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3600, minimum=60)
INVITATION_TTL = timedelta(days=env_int("INVITATION_TTL_DAYS", 7, minimum=1))

# Sessions: a new key at every sign-in (django.contrib.auth.login cycles it), an absolute lifetime
# here, and the organisation's own idle timeout enforced by accounts.middleware.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=300)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'self'; object-src 'none'"
)

# Lockout (django-axes): per account, so an attacker cannot lock everyone out from one address
# and cannot spread guesses across addresses either.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username"]
# Every sign-in path passes the e-mail as `username`; this lower-cases it so case cannot dodge the count.
AXES_USERNAME_CALLABLE = "accounts.views.auth.lockout_username"
# django-axes logs the same client address as the audit trail (right-most X-Forwarded-For behind the proxy).
AXES_CLIENT_IP_CALLABLE = "smm.middleware.client_ip"
# W006 asks for the address too; a council's staff share one NAT address, and locking by address
# would let one mistyped password lock out the whole office. Per account is the intended policy.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.auth.lockout_response"
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False

OTP_TOTP_ISSUER = "Civic Desk"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
# WhiteNoise serves from STATIC_ROOT after collectstatic and from the finders before it; the folder must exist.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/bootstrap", xstatic_bootstrap.BASE_DIR)]
# Chart.js from the npm registry (package.json; `npm ci`, which make run and make test do): the dashboards' charts.
STATICFILES_DIRS.append(("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Civic Desk <no-reply@civicdesk.invalid>")

# Celery. Embedded default: kombu's filesystem transport under var/, so `make run` needs no server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # Without it kombu writes its control exchange files to ./control.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "civicdesk")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {
    # Nightly: message content past each organisation's retention period is redacted (inbox/retention.py).
    "inbox-retention": {
        "task": "inbox.tasks.retention.run_retention",
        "schedule": crontab(hour=2, minute=30),
        "options": {"expires": 6 * 3600},
    },
    # Hands out the channels whose poll is due (each at its own poll_interval_seconds, 30 s by default).
    "inbox-poll-due-channels": {
        "task": "inbox.tasks.polling.poll_due_channels",
        "schedule": 5.0,
        # A sweep still queued after 5 s is stale: the next one does its work.
        "options": {"expires": 5},
    },
    # Replies left "sending" by a killed worker become unknown and are reconciled; stray pending ones re-queued.
    "inbox-sweep-stuck-replies": {
        "task": "inbox.tasks.replies.sweep_stuck_replies",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    # Claims scheduled posts whose time has come and queues one publish task per channel (issue 5: out within 15 s).
    "approvals-sweep-due-posts": {
        "task": "approvals.tasks.sweep_due_posts",
        "schedule": 2.0,
        "options": {"expires": 2},
    },
    # Publish targets left "sending" by a killed worker become unknown and are reconciled with the platform.
    "approvals-sweep-stuck-targets": {
        "task": "approvals.tasks.sweep_stuck_targets",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    # KPI data (docs/kpis.md): channel snapshots hourly (only channels without today's row), post metrics on
    # their decaying schedule, rollups rebuilt for what changed, the weekly summary e-mail on Monday morning.
    "metrics-collect-channel-snapshots": {
        "task": "metrics.tasks.collect_channel_snapshots",
        "schedule": crontab(minute=5),
        "options": {"expires": 3600},
    },
    "metrics-collect-due-post-metrics": {
        "task": "metrics.tasks.collect_due_post_metrics",
        "schedule": 120.0,
        "options": {"expires": 120},
    },
    "metrics-refresh-rollups": {
        "task": "metrics.tasks.refresh_rollups",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    "metrics-weekly-summaries": {
        "task": "metrics.tasks_email.send_weekly_summaries",
        "schedule": crontab(hour=7, minute=0, day_of_week="mon"),
        "options": {"expires": 6 * 3600},
    },
    # Signs each audit chain's head that moved since its last checkpoint (docs/audit.md).
    "audit-write-checkpoints": {
        "task": "audit.tasks.write_checkpoints",
        "schedule": 600.0,
        "options": {"expires": 600},
    },
}
REDIS_URL = env_str("REDIS_URL", "")

# The cache (KPI figures per filter and rollup version, docs/kpis.md): Redis when there is one, shared by every
# web process; otherwise (make run, one machine) each process's memory. Tests use memory, emptied per test.
if REDIS_URL and not TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "civicdesk"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "smm.pagination.KeysetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "smm.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Civic Desk API",
    "DESCRIPTION": "Social media management for public bodies. Every call acts inside one organisation.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # One name for each shared choice set, so clients get one enum however many fields use it.
    "ENUM_NAME_OVERRIDES": {"ConversationStatusEnum": "inbox.models.ConversationStatus"},
}

GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"axes": {"level": "WARNING"}},
}

DEMO_PASSWORD = env_str("DEMO_PASSWORD", "civic-desk-demo-2026")

# Fernet keys that encrypt platform credentials at rest, newest first (comma-separated). Without
# configuration one key is made once in var/. Rotation: put a new key first, run
# `manage.py rotate_credential_keys`, then drop the old key.
CREDENTIAL_KEYS = env_list("CREDENTIAL_KEYS", "")

# Signs the audit chain's checkpoints (audit/tasks.py, docs/audit.md). From the environment, one secret value on
# every machine, kept out of the database; made once in var/ only where LOCAL_KEYS allows (above).
AUDIT_CHECKPOINT_KEY = _secret("AUDIT_CHECKPOINT_KEY", "audit_checkpoint_key", 48)

# Platforms. Connectors read their base URLs only from here; the defaults point at the bundled
# simulator (SIM_URL), production sets the real hosts. There is no other difference.
SIM_URL = env_str("SIM_URL", "http://127.0.0.1:8001").rstrip("/")
X_API_URL = env_str("X_API_URL", f"{SIM_URL}/x").rstrip("/")
X_AUTHORIZE_URL = env_str("X_AUTHORIZE_URL", f"{SIM_URL}/x/i/oauth2/authorize")
X_CLIENT_ID = env_str("X_CLIENT_ID", "sim-x-client")
X_CLIENT_SECRET = env_str("X_CLIENT_SECRET", "sim-x-secret")
GRAPH_API_URL = env_str("GRAPH_API_URL", f"{SIM_URL}/graph").rstrip("/")
GRAPH_API_VERSION = env_str("GRAPH_API_VERSION", "v21.0")
FACEBOOK_LOGIN_URL = env_str("FACEBOOK_LOGIN_URL", f"{SIM_URL}/graph/dialog/oauth")
FACEBOOK_APP_ID = env_str("FACEBOOK_APP_ID", "sim-facebook-app")
FACEBOOK_APP_SECRET = env_str("FACEBOOK_APP_SECRET", "sim-facebook-secret")
# Webhooks (inbox/views/webhooks.py). Empty: the receiver refuses everything (no handshake, no signature passes).
FACEBOOK_WEBHOOK_VERIFY_TOKEN = env_str("FACEBOOK_WEBHOOK_VERIFY_TOKEN", "")
# The X app's consumer (API key) secret: signs Account Activity deliveries and answers the CRC check.
X_CONSUMER_SECRET = env_str("X_CONSUMER_SECRET", "")
BLUESKY_SERVICE_URL = env_str("BLUESKY_SERVICE_URL", f"{SIM_URL}/bsky").rstrip("/")
# Mastodon instances are named by the person connecting; this one is the simulator's.
MASTODON_SIM_INSTANCE_URL = f"{SIM_URL}/mastodon"
PLATFORM_TIMEOUT_SECONDS = env_int("PLATFORM_TIMEOUT_SECONDS", 20, minimum=1)
CSRF_FAILURE_VIEW = "smm.views.csrf_failure"
