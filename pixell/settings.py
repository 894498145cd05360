"""Django settings. Every value comes from ``pixell.env`` (the one reader of the environment).

Unset variables mean the embedded defaults of docs/CONTRACT.md §1: SQLite, local file storage, a
filesystem Celery broker and a file cache shared by every local process — nothing to install.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from pixell import env
from pixell.observability.logs import log_format, logging_config

BASE_DIR = env.BASE_DIR

DEBUG = env.get_bool("DEBUG", False)
_DEV_SECRET = "dev-insecure-secret-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"
SECRET_KEY = env.get_str("SECRET_KEY", _DEV_SECRET if DEBUG else None)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (production).")
if not DEBUG and SECRET_KEY == _DEV_SECRET:
    raise ImproperlyConfigured("The development SECRET_KEY cannot be used with DEBUG off.")

ALLOWED_HOSTS = env.get_list(
    "ALLOWED_HOSTS",
    ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else ["localhost", "127.0.0.1"],
)

PIXELL_HTTPS = env.get_bool("PIXELL_HTTPS", not DEBUG)
PIXELL_DATA_DIR = env.get_path("PIXELL_DATA_DIR", BASE_DIR / "var")
PIXELL_PUBLIC_URL = env.get_str("PIXELL_PUBLIC_URL", "http://localhost:4000").rstrip("/")

MEDIA_ROOT = str(env.get_path("MEDIA_ROOT", PIXELL_DATA_DIR / "media"))
MEDIA_URL = "/media/"
STATIC_ROOT = str(env.get_path("STATIC_ROOT", PIXELL_DATA_DIR / "static"))
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "dj_rest_auth",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "organizations",
    "billing",
    "agentapps",
    "deployments",
    "usage",
    "runtime",
    # Operators' commands that span every domain through pixell's registries (rotate_secrets_key).
    "pixell",
]

MIDDLEWARE = [
    # First: X-Forwarded-Proto counts only from PIXELL_TRUSTED_PROXIES (before any is_secure()).
    "pixell.api.client.TrustedProxyMiddleware",
    # Every response (redirects and errors included) carries X-Request-ID, and the request's log
    # line and metrics cover the whole stack's time.
    "pixell.observability.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (docs/DECISIONS.md "Content-Security-Policy").
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After authentication: identifies the caller once (API key, JWT, cookie, session),
    # applies the rate limit and the X-RateLimit-* headers to every /api response.
    "pixell.api.middleware.ApiMiddleware",
]

# Scripts from our own origin only: no inline script, no eval, nothing from a CDN. Dashboard, admin
# and the API docs (Swagger UI, its start-up script a request of its own) all keep to it. Styles
# may be inline: the pages carry <style> blocks and style attributes, and CSS cannot run code.
# No form-action: Chromium applies it to the redirect after a form POST, which would block the
# top-up's redirect to Stripe Checkout. (docs/DECISIONS.md "Content-Security-Policy")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "pixell.urls"
WSGI_APPLICATION = "pixell.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env.get_str("DATABASE_URL", f"sqlite:///{PIXELL_DATA_DIR / 'db.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # Web, worker and beat share one file: WAL lets readers run beside the writer, and
        # IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
DATABASES["default"]["TEST"] = (
    {"NAME": env.get_str("PIXELL_TEST_DATABASE_NAME")}
    if env.get_str("PIXELL_TEST_DATABASE_NAME")
    else {}
)
IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate-limit counters, login throttling, API-key last-used stamps) -----------------
REDIS_URL = env.get_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "pixell.cache.PixellRedisCache", "LOCATION": REDIS_URL}}
else:
    # django-ratelimit needs a cache shared by all processes; a file cache needs no server.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(PIXELL_DATA_DIR / "cache"),
        }
    }
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]

# --- Storage --------------------------------------------------------------------------------
AWS_STORAGE_BUCKET_NAME = env.get_str("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env.get_str("AWS_S3_ENDPOINT_URL")
AWS_ACCESS_KEY_ID = env.get_str("AWS_ACCESS_KEY_ID")
AWS_SECRET_ACCESS_KEY = env.get_str("AWS_SECRET_ACCESS_KEY")
AWS_S3_REGION_NAME = env.get_str("AWS_S3_REGION_NAME", "us-east-1")


def _s3_transfer_config():
    # Imported only when S3 is configured: boto3 takes about half a second to import, which every
    # process on local storage (and every test run) would otherwise pay at settings load.
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(
        multipart_threshold=8 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024, max_concurrency=2
    )
    # 5 MiB parts (S3's minimum), 2 sent at a time, at most 2 held in memory: s3transfer reads up
    # to 10 parts ahead by default, which grew a 100 MiB upload's peak RSS by 70-90 MiB with 8 MiB
    # parts; this keeps it under 20 MiB (benchmarks/package_upload.py --storage s3).
    config.max_in_memory_upload_chunks = 2
    return config


if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
            "region_name": AWS_S3_REGION_NAME,
            "addressing_style": "path" if AWS_S3_ENDPOINT_URL else None,
            "signature_version": "s3v4",
            "querystring_auth": True,
            "querystring_expire": 3600,
            "file_overwrite": True,
            "default_acl": None,
            # Spool at most 8 MiB of a read in memory: with the default, reading a 50 MiB package
            # back grew peak RSS by about 98 MiB.
            "max_memory_size": 8 * 1024 * 1024,
            "transfer_config": _s3_transfer_config(),
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger uploads stream to a temporary file
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

# --- Celery ---------------------------------------------------------------------------------
# pixell-fs:// is kombu's filesystem transport made safe (pixell/broker.py, docs/DECISIONS.md).
CELERY_BROKER_URL = env.get_str("CELERY_BROKER_URL", "pixell-fs://")
if CELERY_BROKER_URL.startswith(("pixell-fs://", "filesystem://")):
    _broker = PIXELL_DATA_DIR / "broker"
    for _folder in ("queue", "processing", "rejected", "control"):
        (_broker / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker / "queue"),
        "data_folder_out": str(_broker / "queue"),
        # A message is claimed by renaming it here: same file system as the queue, so atomic.
        "processed_folder": str(_broker / "processing"),
        "store_processed": False,
        "rejected_folder": str(_broker / "rejected"),
        "control_folder": str(_broker / "control"),
        "polling_interval": 0.2,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BEAT_SCHEDULE_FILENAME = str(PIXELL_DATA_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PIXELL_HTTPS
CSRF_COOKIE_SECURE = PIXELL_HTTPS
SECURE_SSL_REDIRECT = PIXELL_HTTPS
SECURE_HSTS_SECONDS = 31536000 if PIXELL_HTTPS else 0
# Honoured only when a trusted proxy sent it (pixell.api.client.TrustedProxyMiddleware strips it
# otherwise); PIXELL_TRUSTED_PROXIES lists the proxies, unset trusts none.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
PIXELL_TRUSTED_PROXIES = env.get_networks("PIXELL_TRUSTED_PROXIES")
SECURE_REDIRECT_EXEMPT = [r"^api/health(/live|/ready)?$"]
CSRF_TRUSTED_ORIGINS = [PIXELL_PUBLIC_URL]
X_FRAME_OPTIONS = "DENY"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 8},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24

# --- Email ----------------------------------------------------------------------------------
EMAIL_BACKEND = env.get_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env.get_str("EMAIL_FILE_PATH", str(PIXELL_DATA_DIR / "mail"))
EMAIL_HOST = env.get_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.get_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env.get_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.get_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.get_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env.get_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env.get_str("DEFAULT_FROM_EMAIL", "Pixell Agent Cloud <noreply@localhost>")

# --- Product settings (docs/CONTRACT.md §1) ----------------------------------------------------------
PIXELL_EMAIL_VERIFICATION = env.get_choice(
    "PIXELL_EMAIL_VERIFICATION", "mandatory", ("mandatory", "optional", "none")
)
PIXELL_SIGNUP_CREDITS = env.get_int("PIXELL_SIGNUP_CREDITS", 100)
PIXELL_RATE_LIMIT_AUTHENTICATED = env.get_rate("PIXELL_RATE_LIMIT_AUTHENTICATED", "1000/h")
PIXELL_RATE_LIMIT_ANONYMOUS = env.get_rate("PIXELL_RATE_LIMIT_ANONYMOUS", "100/h")
# Machine endpoints (pixell/api/machine.py): the runtime's reports and the cron trigger, each one
# caller with its own allowance; and wrong secrets per client address.
PIXELL_RATE_LIMIT_RUNTIME = env.get_rate("PIXELL_RATE_LIMIT_RUNTIME", "6000/m")
PIXELL_RATE_LIMIT_CRON = env.get_rate("PIXELL_RATE_LIMIT_CRON", "120/m")
PIXELL_MACHINE_SECRET_FAILURES = env.get_rate("PIXELL_MACHINE_SECRET_FAILURES", "10/h")
PIXELL_LOGIN_MAX_FAILURES = 10
PIXELL_LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.get_bool("PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
# The operator's own runtime may sit on a private network or loopback (make run's local runtime on
# 127.0.0.1); customers' webhook targets stay public-only unless the flag above says otherwise.
PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS = env.get_bool("PIXELL_RUNTIME_ALLOW_PRIVATE_NETWORKS", DEBUG)
PIXELL_MAX_PACKAGE_BYTES = env.get_int("PIXELL_MAX_PACKAGE_BYTES", 100 * 1024 * 1024)
PIXELL_SECRETS_KEY = env.get_str("PIXELL_SECRETS_KEY")
PIXELL_RUNTIME_URL = env.get_str("PIXELL_RUNTIME_URL")
# Shared secrets of machine endpoints (runtime reports, cron): long enough not to be guessed.
PIXELL_RUNTIME_SECRET = env.get_secret("PIXELL_RUNTIME_SECRET", min_length=32)
CRON_SECRET = env.get_secret("CRON_SECRET", min_length=32)
STRIPE_SECRET_KEY = env.get_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env.get_str("STRIPE_WEBHOOK_SECRET")
PIXELL_BILLING_SANDBOX = env.get_bool("PIXELL_BILLING_SANDBOX", DEBUG and not STRIPE_SECRET_KEY)
# Credit packages a top-up may buy (docs/CONTRACT.md §6): credits and the price charged through Stripe.
PIXELL_CREDIT_PACKAGES = {
    "starter": {"credits": 1_000, "price_cents": 1_000},
    "growth": {"credits": 5_000, "price_cents": 4_500},
    "scale": {"credits": 25_000, "price_cents": 20_000},
}
PIXELL_CREDIT_CURRENCY = "usd"

# --- Deployments (docs/CONTRACT.md §5) ---------------------------------------------------------------
# A processing job whose heartbeat is older than this was abandoned (killed worker): it is taken
# up again while it has attempts left, else failed and refunded.
PIXELL_DEPLOYMENT_HEARTBEAT_TIMEOUT_SECONDS = env.get_int(
    "PIXELL_DEPLOYMENT_HEARTBEAT_TIMEOUT_SECONDS", 300
)
PIXELL_DEPLOYMENT_MAX_ATTEMPTS = env.get_int("PIXELL_DEPLOYMENT_MAX_ATTEMPTS", 3)
# How long notify_runtime waits for the runtime to report the deployment healthy.
PIXELL_RUNTIME_HEALTH_TIMEOUT_SECONDS = env.get_int("PIXELL_RUNTIME_HEALTH_TIMEOUT_SECONDS", 120)
PIXELL_RUNTIME_HEALTH_INTERVAL_SECONDS = env.get_int("PIXELL_RUNTIME_HEALTH_INTERVAL_SECONDS", 2)

# --- Local agent runtime and invocations (docs/CONTRACT.md §11, docs/runtime.md) --------------------
# The runtime process executes uploaded code: it starts only when asked (`make run` sets this).
PIXELL_LOCAL_RUNTIME = env.get_bool("PIXELL_LOCAL_RUNTIME", False)
PIXELL_RUNTIME_PORT = env.get_int("PIXELL_RUNTIME_PORT", 4001)  # on 127.0.0.1 only
PIXELL_RUNTIME_AGENT_MEMORY_MB = env.get_int("PIXELL_RUNTIME_AGENT_MEMORY_MB", 1024)
PIXELL_RUNTIME_AGENT_CPU_SECONDS = env.get_int("PIXELL_RUNTIME_AGENT_CPU_SECONDS", 3600)
PIXELL_RUNTIME_AGENT_OPEN_FILES = env.get_int("PIXELL_RUNTIME_AGENT_OPEN_FILES", 256)
PIXELL_RUNTIME_AGENT_START_TIMEOUT_SECONDS = env.get_int(
    "PIXELL_RUNTIME_AGENT_START_TIMEOUT_SECONDS", 60
)
# Agent virtualenvs, one per distinct requirements.txt (default: PIXELL_DATA_DIR/runtime/venvs).
PIXELL_RUNTIME_VENV_DIR = env.get_str("PIXELL_RUNTIME_VENV_DIR")
# What uv needs from the machine to reach a package index (not the platform's settings or secrets).
PIXELL_RUNTIME_INSTALLER_ENV = env.passthrough(
    ("PATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
     "http_proxy", "https_proxy", "all_proxy", "no_proxy"),
    prefixes=("UV_",),
)  # fmt: skip
PIXELL_INVOCATION_TIMEOUT_SECONDS = env.get_int("PIXELL_INVOCATION_TIMEOUT_SECONDS", 30)
PIXELL_INVOCATION_CREDITS = env.get_int("PIXELL_INVOCATION_CREDITS", 1)

AUTH_COOKIE_NAME = "pixell-auth-token"
ACCESS_TOKEN_SECONDS = 3600
REMEMBER_ME_SECONDS = 30 * 24 * 3600

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["pixell.api.authentication.PixellAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "pixell.api.parsers.JSONParser",  # DRF's, with deep nesting a 400 instead of a 500
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "pixell.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Rate limiting is done once for all of /api in ApiMiddleware (404s included), not by DRF throttles.
    "DEFAULT_THROTTLE_CLASSES": [],
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=ACCESS_TOKEN_SECONDS),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=30),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": SECRET_KEY,
    "ALGORITHM": "HS256",
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
}
REST_AUTH = {
    "USE_JWT": True,
    "TOKEN_MODEL": None,
    "SESSION_LOGIN": False,
    "JWT_AUTH_COOKIE": AUTH_COOKIE_NAME,
    "JWT_AUTH_HTTPONLY": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Pixell Agent Cloud API",
    "DESCRIPTION": "Upload, deploy and bill AI-agent packages. See README.md and docs/CONTRACT.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "pixell.api.schema.document_rate_limit",
        "pixell.api.schema.document_unsupported_media_type",
    ],
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/dashboard/"

# --- Operating it (docs/OPERATIONS.md) -------------------------------------------------------
# JSON lines (one object per line) unless DEBUG; PIXELL_LOG_FORMAT overrides either way.
PIXELL_LOG_FORMAT = log_format(debug=DEBUG)
LOGGING = logging_config(
    json_lines=PIXELL_LOG_FORMAT == "json", level=env.get_str("PIXELL_LOG_LEVEL", "INFO")
)
# GET /metrics answers only with "Authorization: Bearer <token>"; unset, it is a 404.
PIXELL_METRICS_TOKEN = env.get_str("PIXELL_METRICS_TOKEN")
# prometheus-client's multiprocess files: one folder shared by this host's web and worker
# processes (PIXELL_METRICS_DIR, default <PIXELL_DATA_DIR>/metrics).
PIXELL_METRICS_DIR = env.metrics_dir()
# Retention (beat tasks, each deleting at most BATCH_SIZE × MAX_BATCHES rows of a table per run).
PIXELL_RETENTION_BATCH_SIZE = env.get_int("PIXELL_RETENTION_BATCH_SIZE", 1000)
PIXELL_RETENTION_MAX_BATCHES = env.get_int("PIXELL_RETENTION_MAX_BATCHES", 100)
PIXELL_RETENTION_WEBHOOK_DAYS = env.get_int("PIXELL_RETENTION_WEBHOOK_DAYS", 30)
PIXELL_RETENTION_EXPORT_DAYS = env.get_int("PIXELL_RETENTION_EXPORT_DAYS", 7)
PIXELL_RETENTION_USAGE_EVENTS_DAYS = env.get_int("PIXELL_RETENTION_USAGE_EVENTS_DAYS", 400)

Path(PIXELL_DATA_DIR).mkdir(parents=True, exist_ok=True)
