"""One settings file, driven by the environment. Every variable is listed in README.md and .env.example."""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cxfeedback import embedded, rate_limit, sentry, webhook_secrets
from cxfeedback.api_schema import SPECTACULAR_SETTINGS  # noqa: F401  (the OpenAPI schema's settings)

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")
    return value in ("true", "1", "yes", "on")


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError as e:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from e


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", "false")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG"  # noqa: S105

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # django.contrib.admin, whose autocomplete names rows as their admin says (cxfeedback/admin_site.py).
    "cxfeedback.admin_site.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "departments",
    "contacts",
    "surveys",
    "results",
    "audit",
    "axes",
]

MIDDLEWARE = [
    # First: every line logged while handling a request carries its id (cxfeedback/request_id.py).
    "cxfeedback.request_id.RequestIdMiddleware",
    "cxfeedback.metrics.MetricsMiddleware",
    "cxfeedback.csp.ContentSecurityPolicyMiddleware",
    # The results pages read from the replica, if there is one (cxfeedback/db_router.py).
    "cxfeedback.db_router.ReplicaReadsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

# Brute-force lockout on the admin login (django-axes): 5 wrong passwords for one username from one
# address lock that pair out for an hour; other users and other addresses are unaffected. The
# lockout backend sees only logins with a request (the admin's form); API keys never pass through
# authenticate() (departments/authentication.py), and force_login in tests skips it.
AUTHENTICATION_BACKENDS = [
    "cxfeedback.login_lockout.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = envint("LOGIN_LOCKOUT_MINUTES", "60") / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The same client address the public pages' rate limit counts (TRUSTED_PROXY_COUNT).
AXES_CLIENT_IP_CALLABLE = "cxfeedback.rate_limit.client_address"
AXES_LOCKOUT_TEMPLATE = "login_locked_out.html"

ROOT_URLCONF = "cxfeedback.urls"
WSGI_APPLICATION = "cxfeedback.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "cxfeedback" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL, or the embedded PostgreSQL server (see cxfeedback/embedded.py).
if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
else:
    DATABASES = {"default": embedded.embedded_postgres_settings()}
DATABASES["default"]["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", "0")
# A kept connection is checked before a request reuses it, with no round trip (cxfeedback/postgresql/):
# after a database restart its first request would fail with a 500 (reliability: database_restarted_*).
DATABASES["default"].update(ENGINE="cxfeedback.postgresql", CONN_HEALTH_CHECKS=True)
DATABASES["default"].setdefault("OPTIONS", {})
# Behind PgBouncer in transaction mode nothing may outlive a transaction (README "Running at scale"): no
# cursor WITH HOLD, no prepared statement unless PgBouncer ≥ 1.21 tracks them (then set the threshold).
DB_TRANSACTION_POOLING = envbool("DB_TRANSACTION_POOLING", "false")
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = DB_TRANSACTION_POOLING
# Server-side prepared statements, for the gatekeeper's statements run on every trigger and
# eligibility check (surveys/gatekeeper/screening.py): PostgreSQL then plans each once per
# connection instead of on every call. Only cursors that bind on the server use them; Django's own
# queries never do. Empty turns them off (the default behind a transaction-pooling PgBouncer).
_PREPARE_THRESHOLD = os.environ.get("DB_PREPARE_THRESHOLD", "" if DB_TRANSACTION_POOLING else "5").strip()
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = (
    envint("DB_PREPARE_THRESHOLD", "5") if _PREPARE_THRESHOLD else None
)
# Bind parameters on the server for every query, so Django's are prepared too (see above); the API's
# hot paths then spend about a fifth less CPU. Off by default, as in Django.
DATABASES["default"]["OPTIONS"]["server_side_binding"] = envbool("DB_SERVER_SIDE_BINDING", "false")
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME", "test_cxfeedback")}
# A read replica for the results pages (cxfeedback/db_router.py): the primary's settings but for where it
# is; in tests a mirror of the test database.
if os.environ.get("DATABASE_REPLICA_URL"):
    _replica = dj_database_url.parse(os.environ["DATABASE_REPLICA_URL"])
    _where = {key: _replica[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")}
    DATABASES["replica"] = {**DATABASES["default"], **_where, "TEST": {"MIRROR": "default"}}
DATABASE_ROUTERS = ["cxfeedback.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Production serves hashed, compressed files collected by `collectstatic`; development and the
# tests serve them straight from the apps (STATIC_MANIFEST=false).
STATIC_MANIFEST = envbool("STATIC_MANIFEST", "false" if DEBUG else "true")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

# Security: secure cookies and HSTS wherever DEBUG is off (production is served over HTTPS).
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "false")
# A load balancer's health check may speak plain HTTP to the app behind it.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = not DEBUG and envbool("SECURE_COOKIES", "true")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = 0 if DEBUG else envint("SECURE_HSTS_SECONDS", "31536000")
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG and envbool("SECURE_HSTS_PRELOAD", "true")
# Off, SECURE_SSL_REDIRECT says the proxy in front redirects HTTP to HTTPS (the usual setup, and what
# the README asks for), so `check --deploy` need not warn about it; on, Django redirects itself.
SILENCED_SYSTEM_CHECKS = [] if SECURE_SSL_REDIRECT else ["security.W008"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", str(5 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
CONTACT_IMPORT_MAX_BYTES = envint("CONTACT_IMPORT_MAX_BYTES", str(100 << 20))  # 100 MiB, streamed from disk
IMPORT_FILE_RETENTION_DAYS = envint("IMPORT_FILE_RETENTION_DAYS", "14")  # days uploads and reports are kept
CONTACT_IMPORT_LEASE = envint("CONTACT_IMPORT_LEASE", "120")  # a running import silent this long (s) failed
RESULTS_EXPORT_JOB_ROWS = envint("RESULTS_EXPORT_JOB_ROWS", "20000")  # more responses: a background job

# Phone numbers written without a country code are read in this region (ISO 3166 code).
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "DE").upper()

# Email
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", "25")
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "false")
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", "10")
# Where the file-based backend (`make run`'s default) writes each message.
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(embedded.LOCAL_DIR / "outbox"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "surveys@cxfeedback.localhost")
# An email provider through django-anymail: every ANYMAIL_<NAME> variable becomes its setting <NAME>,
# e.g. ANYMAIL_WEBHOOK_SECRET (user:password the provider's webhooks under /webhooks/anymail/ use)
# or ANYMAIL_POSTMARK_SERVER_TOKEN.
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value for name, value in os.environ.items() if name.startswith("ANYMAIL_")
}
# Inbound SMS (STOP) webhook: the provider sends this in the X-Webhook-Secret header. Empty: refused.
SMS_INBOUND_SECRET = os.environ.get("SMS_INBOUND_SECRET", "")
# The providers' webhooks that are on (surveys/public/urls.py mounts them): "email" (django-anymail's
# bounces, complaints and unsubscribe mail) and "sms" (inbound STOP). Each opts people out, so outside
# DEBUG each one on needs its secret above, or the app does not start (cxfeedback/webhook_secrets.py).
# By default the SMS webhook of the backend in use: Twilio's own with TwilioSmsBackend, else the generic.
_SMS_WEBHOOK = "twilio" if os.environ.get("SMS_BACKEND", "").endswith("TwilioSmsBackend") else "sms"
PROVIDER_WEBHOOKS = envlist("PROVIDER_WEBHOOKS", f"email,{_SMS_WEBHOOK}")
if unknown := sorted(set(PROVIDER_WEBHOOKS) - set(webhook_secrets.PROVIDER_WEBHOOKS)):
    raise ImproperlyConfigured(
        f"PROVIDER_WEBHOOKS lists {', '.join(unknown)}: the webhooks are "
        f"{', '.join(webhook_secrets.PROVIDER_WEBHOOKS)} (empty: none)"
    )
if not DEBUG and (
    missing := webhook_secrets.webhook_secrets_missing(
        webhooks=PROVIDER_WEBHOOKS,
        anymail=ANYMAIL,
        sms_inbound_secret=SMS_INBOUND_SECRET,
        twilio_auth_token=os.environ.get("TWILIO_AUTH_TOKEN", ""),
    )
):
    raise ImproperlyConfigured(" ".join(missing))

# The public pages (surveys/public/views.py): requests per client IP ("60/minute"; second, minute, hour,
# day), counted in PostgreSQL (cxfeedback/rate_limit.py), so all workers and machines count together.
# Behind N proxies that append to X-Forwarded-For, set TRUSTED_PROXY_COUNT=N so the client is the
# address the outermost proxy saw.
PUBLIC_RATE_LIMIT = os.environ.get("PUBLIC_RATE_LIMIT", "60/minute")
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", "0")
# Requests per API key (per session user) on the same counter (cxfeedback/api_throttle.py); empty: no
# limit. The default is above what one key gets from two cores (bench_trigger: ~520 calls/s in all).
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "30000/minute").strip()
_ = API_RATE_LIMIT and rate_limit.Rate.parse(API_RATE_LIMIT)  # a rate written otherwise stops the app

# Operations (README "Operating it"): who may read /metrics (a Bearer token, or CIDRs; neither:
# nobody), the folders of this host's processes' metric files it adds up (prometheus_client's
# multiprocess mode), heartbeats of workers and beat (cxfeedback/heartbeats.py) and /readyz's limit.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = envlist("METRICS_ALLOWED_NETWORKS", "")
METRICS_PROCESS_DIRS = envlist("METRICS_PROCESS_DIRS", os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))
HEARTBEAT_INTERVAL = envint("HEARTBEAT_INTERVAL", "30")
HEARTBEAT_MAX_AGE = envint("HEARTBEAT_MAX_AGE", "120")
# Error tracking (cxfeedback/sentry.py), redacted like the logs; off without SENTRY_DSN.
sentry.sentry_init_from_environment()

# Celery: CELERY_BROKER_URL (Redis or RabbitMQ), or the embedded filesystem broker.
if os.environ.get("CELERY_BROKER_URL"):
    CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
else:
    CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = embedded.embedded_broker_url()
    # The filesystem transport polls its folder (kombu's default: every second, which left a worker
    # idle for up to a second after each delivery batch); a directory listing is cheap.
    CELERY_BROKER_TRANSPORT_OPTIONS["polling_interval"] = 0.1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
# Redis re-delivers an unacknowledged task after this long; it must exceed every task's run time.
CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(embedded.LOCAL_DIR / "celerybeat-schedule")
# The worker logs through LOGGING below (JSON lines, redacted) rather than its own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Delivery (surveys/delivery/). Intervals and ages in seconds.
DELIVERY_BATCH_SIZE = envint("DELIVERY_BATCH_SIZE", "200")  # invitations per task, one SMTP connection
DELIVERY_MAX_ATTEMPTS = envint("DELIVERY_MAX_ATTEMPTS", "6")  # claims of one invitation before it fails
DELIVERY_RETRY_BACKOFF = envint("DELIVERY_RETRY_BACKOFF", "30")  # first retry's delay; doubles each time
# The longest retry delay. A retried task waits unacknowledged on the worker, so it stays well under
# the broker's visibility timeout (below) or Redis would hand it out a second time.
DELIVERY_RETRY_BACKOFF_MAX = envint("DELIVERY_RETRY_BACKOFF_MAX", "900")
# A batch stops starting new messages after this long and hands the rest on, well inside the soft limit.
DELIVERY_BATCH_SECONDS = envint("DELIVERY_BATCH_SECONDS", "120")
# An invitation in `sending` for longer than this has lost its worker: no task runs past
# CELERY_TASK_TIME_LIMIT, so none can still be sending it, and the sweeper queues it again.
DELIVERY_STUCK_AFTER = envint("DELIVERY_STUCK_AFTER", "600")
# A queued invitation handed to the broker this long ago and still queued was lost on the way.
DELIVERY_HANDOFF_LEASE = envint("DELIVERY_HANDOFF_LEASE", "1800")
SCREENING_BATCH_CONTACTS = envint("SCREENING_BATCH_CONTACTS", "10000")  # the most; screening_batches.py
SCREENING_BATCH_MS = envint("SCREENING_BATCH_MS", "250")  # a batch's aimed length: screening_batches.py
RESERVATION_HOLD = envint("RESERVATION_HOLD", "604800")  # 7 days: see surveys/delivery/reservations.py
DISPATCH_INTERVAL = envint("DISPATCH_INTERVAL", "10")
SWEEP_INTERVAL = envint("SWEEP_INTERVAL", "120")
EXPIRE_INTERVAL = envint("EXPIRE_INTERVAL", "600")
REMINDER_INTERVAL = envint("REMINDER_INTERVAL", "900")
RESERVATION_RELEASE_INTERVAL = envint("RESERVATION_RELEASE_INTERVAL", "300")
HOUSEKEEPING_INTERVAL = envint("HOUSEKEEPING_INTERVAL", "3600")  # old files, keys, counters; partitions
# Seconds between the runs that roll finished days up for the results dashboard (results/rollups.py);
# a day is rolled up on the first run after 00:10 of the next, and read from the live tables till then.
ROLLUP_INTERVAL = envint("ROLLUP_INTERVAL", "600")
# Quiet hours in the contact's own time zone (HH:MM; equal start and end mean none): sends are deferred.
QUIET_HOURS_START = os.environ.get("QUIET_HOURS_START", "21:00")
QUIET_HOURS_END = os.environ.get("QUIET_HOURS_END", "08:00")
REMINDER_MAX = envint("REMINDER_MAX", "1")  # reminders per invitation
REMINDER_MIN_GAP_DAYS = envint("REMINDER_MIN_GAP_DAYS", "3")  # after the invitation and between reminders
# SMS: a dotted path to a backend class (surveys/delivery/channels/sms.py). The console backend logs only
# that a message went out; TwilioSmsBackend sends through Twilio's REST API with the TWILIO_* settings.
SMS_BACKEND = os.environ.get("SMS_BACKEND", "surveys.delivery.channels.sms.ConsoleSmsBackend")
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER", "")
if DELIVERY_STUCK_AFTER <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("DELIVERY_STUCK_AFTER must exceed CELERY_TASK_TIME_LIMIT: sends could repeat")
if DELIVERY_BATCH_SECONDS >= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("DELIVERY_BATCH_SECONDS must be below CELERY_TASK_SOFT_TIME_LIMIT")

# Each run is dropped if it has waited a whole interval in the queue: the next one does the same work.
CELERY_BEAT_SCHEDULE = {
    name: {"task": task, "schedule": every, "options": {"expires": every}}
    for name, task, every in [
        ("dispatch-due-invitations", "surveys.tasks.dispatch_due_task", DISPATCH_INTERVAL),
        ("sweep-stuck-invitations", "surveys.tasks.sweep_stuck_task", SWEEP_INTERVAL),
        ("expire-invitations", "surveys.tasks.expire_invitations_task", EXPIRE_INTERVAL),
        ("send-reminders", "surveys.tasks.send_reminders_task", REMINDER_INTERVAL),
        ("release-reservations", "surveys.tasks.release_reservations_task", RESERVATION_RELEASE_INTERVAL),
        ("purge-import-files", "contacts.tasks.import_files_purge_task", HOUSEKEEPING_INTERVAL),
        ("sweep-contact-imports", "contacts.tasks.sweep_contact_imports_task", SWEEP_INTERVAL),
        ("purge-idempotency-keys", "departments.tasks.idempotency_records_purge_task", HOUSEKEEPING_INTERVAL),
        ("purge-rate-limits", "departments.tasks.rate_limit_counters_purge_task", HOUSEKEEPING_INTERVAL),
        ("refresh-results-rollups", "results.tasks.refresh_rollups_task", ROLLUP_INTERVAL),
        ("sweep-export-jobs", "results.tasks.sweep_export_jobs_task", SWEEP_INTERVAL),
        ("make-decision-partitions", "surveys.tasks.decision_partitions_ensure_task", HOUSEKEEPING_INTERVAL),
    ]
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "departments.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "cxfeedback.api.Pagination",
    # DRF's parsers, with JSON that PostgreSQL cannot store refused as a 400 (cxfeedback/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "cxfeedback.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "cxfeedback.exceptions.exception_handler",
    # Per API key, on the PostgreSQL counter (API_RATE_LIMIT); DRF's own throttles would need a cache.
    "DEFAULT_THROTTLE_CLASSES": ["cxfeedback.api_throttle.ApiKeyRateThrottle"],
}

# JSON lines for a log collector (cxfeedback/log_json.py), plain ones at a terminal (DEBUG's default).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "cxfeedback.log_json.JsonFormatter"},
    },
    # Personal-link tokens, API keys, addresses and phone numbers never reach a log (logging_filters.py);
    # on the handler, so it sees every record, whichever logger it came from.
    "filters": {"redact_tokens": {"()": "cxfeedback.logging_filters.RedactTokens"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact_tokens"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "pgserver": {"level": "WARNING"},
        # runserver's request lines, through the redacting handler instead of Django's own.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
