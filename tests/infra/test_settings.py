"""Settings read the environment in one place (pixell/env.py) with the defaults of docs/CONTRACT.md §1.

Each test executes pixell/settings.py afresh, as a separate module, under a controlled
environment; Django's already-configured settings are untouched.
"""

import importlib.util
import re
from pathlib import Path

import pytest
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from pixell import env
from tests.infra.helpers import is_product_var

BASE_DIR = Path(__file__).resolve().parents[2]
SETTINGS_FILE = BASE_DIR / "pixell" / "settings.py"

_counter = 0


@pytest.fixture
def load_settings(monkeypatch, tmp_path):
    def load(*, data_dir: bool = True, **variables: str):
        global _counter
        import os

        # CI's or the test run's own configuration must not leak into what is being checked.
        for name in list(os.environ):
            if is_product_var(name):
                monkeypatch.delenv(name)
        if data_dir:
            monkeypatch.setenv("PIXELL_DATA_DIR", str(tmp_path / "data"))
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        _counter += 1
        spec = importlib.util.spec_from_file_location(
            f"pixell_settings_probe_{_counter}", SETTINGS_FILE
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def test_embedded_defaults_in_development(load_settings, tmp_path):
    s = load_settings(DEBUG="true")
    data = (tmp_path / "data").resolve()

    assert s.DEBUG is True
    assert s.SECRET_KEY  # the development key is allowed with DEBUG on
    assert s.PIXELL_HTTPS is False and s.SECURE_SSL_REDIRECT is False
    assert data == s.PIXELL_DATA_DIR
    assert str(data / "media") == s.MEDIA_ROOT and str(data / "static") == s.STATIC_ROOT
    assert s.PIXELL_PUBLIC_URL == "http://localhost:4000"
    assert s.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert s.DATABASES["default"]["NAME"] == str(data / "db.sqlite3")
    assert s.IS_POSTGRES is False
    # A broker that needs no server, with absolute folders (kombu's default control folder is
    # relative, so it would follow each process's working directory).
    # (kombu's filesystem transport made safe: pixell/broker.py)
    assert s.CELERY_BROKER_URL == "pixell-fs://"
    for key in (
        "data_folder_in",
        "data_folder_out",
        "processed_folder",
        "rejected_folder",
        "control_folder",
    ):
        folder = Path(s.CELERY_BROKER_TRANSPORT_OPTIONS[key])
        assert folder.is_absolute() and folder.is_dir() and data in folder.parents
    # A cache shared by every local process (django-ratelimit refuses a per-process one).
    assert s.CACHES["default"]["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert s.STORAGES["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert s.STORAGES["default"]["OPTIONS"]["location"] == s.MEDIA_ROOT
    assert s.STRIPE_SECRET_KEY is None and s.PIXELL_BILLING_SANDBOX is True
    assert s.CRON_SECRET is None
    assert s.PIXELL_RUNTIME_URL is None and s.PIXELL_RUNTIME_SECRET is None
    assert s.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"
    assert s.PIXELL_EMAIL_VERIFICATION == "mandatory"
    assert s.PIXELL_SIGNUP_CREDITS == 100
    assert (s.PIXELL_RATE_LIMIT_AUTHENTICATED, s.PIXELL_RATE_LIMIT_ANONYMOUS) == ("1000/h", "100/h")
    assert s.PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS is False
    assert s.PIXELL_MAX_PACKAGE_BYTES == 100 * 1024 * 1024
    assert s.PIXELL_SECRETS_KEY is None


def test_data_dir_defaults_to_var_in_the_project(load_settings):
    s = load_settings(data_dir=False, DEBUG="true")
    assert s.PIXELL_DATA_DIR == BASE_DIR / "var"
    assert s.DATABASES["default"]["NAME"] == str(BASE_DIR / "var" / "db.sqlite3")


def test_debug_is_off_unless_set_and_production_needs_a_secret_key(load_settings):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load_settings()


def test_development_secret_key_is_refused_in_production(load_settings):
    dev_key = load_settings(DEBUG="true").SECRET_KEY
    with pytest.raises(ImproperlyConfigured, match="development SECRET_KEY"):
        load_settings(DEBUG="false", SECRET_KEY=dev_key)


def test_production_defaults_are_secure(load_settings):
    s = load_settings(SECRET_KEY="a-real-production-secret-0123456789abcdef")
    assert s.DEBUG is False
    assert s.PIXELL_HTTPS is True
    assert s.SECURE_SSL_REDIRECT is True and s.SECURE_HSTS_SECONDS > 0
    assert s.SESSION_COOKIE_SECURE is True and s.CSRF_COOKIE_SECURE is True
    assert s.PIXELL_BILLING_SANDBOX is False  # never a fake checkout unless asked for
    assert "testserver" not in s.ALLOWED_HOSTS


def test_https_can_be_turned_off_explicitly(load_settings):
    s = load_settings(SECRET_KEY="x" * 40, PIXELL_HTTPS="false")
    assert s.PIXELL_HTTPS is False and s.SECURE_SSL_REDIRECT is False


def test_a_stripe_key_turns_the_sandbox_off_and_an_explicit_value_wins(load_settings):
    assert (
        load_settings(DEBUG="true", STRIPE_SECRET_KEY="sk_test_123").PIXELL_BILLING_SANDBOX is False
    )
    assert (
        load_settings(DEBUG="true", PIXELL_BILLING_SANDBOX="false").PIXELL_BILLING_SANDBOX is False
    )
    assert (
        load_settings(SECRET_KEY="x" * 40, PIXELL_BILLING_SANDBOX="true").PIXELL_BILLING_SANDBOX
        is True
    )


def test_server_backed_services_from_urls(load_settings):
    s = load_settings(
        DEBUG="true",
        DATABASE_URL="postgres://pixell:pw@db.internal:5432/pixell",
        CELERY_BROKER_URL="redis://cache.internal:6379/0",
        REDIS_URL="redis://cache.internal:6379/1",
    )
    db = s.DATABASES["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql" and s.IS_POSTGRES
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == (
        "db.internal",
        5432,
        "pixell",
        "pixell",
    )
    assert db["CONN_MAX_AGE"] > 0  # persistent connections: no TCP+auth handshake per request
    assert s.CELERY_BROKER_URL == "redis://cache.internal:6379/0"
    assert "visibility_timeout" in s.CELERY_BROKER_TRANSPORT_OPTIONS
    assert issubclass(import_string(s.CACHES["default"]["BACKEND"]), RedisCache)
    assert s.CACHES["default"]["LOCATION"] == "redis://cache.internal:6379/1"


def test_s3_storage_when_a_bucket_is_set(load_settings):
    s = load_settings(
        DEBUG="true",
        AWS_STORAGE_BUCKET_NAME="packages",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:5000",
        AWS_ACCESS_KEY_ID="id",
        AWS_SECRET_ACCESS_KEY="secret",
    )
    storage = s.STORAGES["default"]
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    assert storage["OPTIONS"]["bucket_name"] == "packages"
    assert storage["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:5000"
    assert storage["OPTIONS"]["addressing_style"] == "path"
    assert storage["OPTIONS"]["region_name"] == "us-east-1"


def test_product_settings_are_read(load_settings, tmp_path):
    s = load_settings(
        DEBUG="true",
        PIXELL_PUBLIC_URL="https://cloud.example.com/",
        PIXELL_EMAIL_VERIFICATION="optional",
        PIXELL_SIGNUP_CREDITS="250",
        PIXELL_RATE_LIMIT_AUTHENTICATED="50/m",
        PIXELL_RATE_LIMIT_ANONYMOUS="5/s",
        PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS="yes",
        PIXELL_MAX_PACKAGE_BYTES="1048576",
        PIXELL_SECRETS_KEY="k" * 32,
        PIXELL_RUNTIME_URL="http://runtime.internal:8080",
        PIXELL_RUNTIME_SECRET="runtime-secret-0123456789abcdef0123",
        CRON_SECRET="cron-secret-0123456789abcdef0123456",
        MEDIA_ROOT=str(tmp_path / "media"),
        STATIC_ROOT=str(tmp_path / "static"),
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="smtp.example.com",
        EMAIL_PORT="587",
        EMAIL_USE_TLS="true",
        DEFAULT_FROM_EMAIL="Pixell <noreply@example.com>",
        ALLOWED_HOSTS="cloud.example.com, api.example.com",
    )
    assert s.PIXELL_PUBLIC_URL == "https://cloud.example.com"  # no trailing slash in built links
    assert s.CSRF_TRUSTED_ORIGINS == ["https://cloud.example.com"]
    assert s.PIXELL_EMAIL_VERIFICATION == "optional"
    assert s.PIXELL_SIGNUP_CREDITS == 250
    assert (s.PIXELL_RATE_LIMIT_AUTHENTICATED, s.PIXELL_RATE_LIMIT_ANONYMOUS) == ("50/m", "5/s")
    assert s.PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS is True
    assert s.PIXELL_MAX_PACKAGE_BYTES == 1048576
    assert s.PIXELL_SECRETS_KEY == "k" * 32
    assert (s.PIXELL_RUNTIME_URL, s.PIXELL_RUNTIME_SECRET) == (
        "http://runtime.internal:8080",
        "runtime-secret-0123456789abcdef0123",
    )
    assert s.CRON_SECRET == "cron-secret-0123456789abcdef0123456"
    assert str((tmp_path / "media").resolve()) == s.MEDIA_ROOT
    assert str((tmp_path / "static").resolve()) == s.STATIC_ROOT
    assert (s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS) == ("smtp.example.com", 587, True)
    assert s.DEFAULT_FROM_EMAIL == "Pixell <noreply@example.com>"
    assert s.ALLOWED_HOSTS == ["cloud.example.com", "api.example.com"]


@pytest.mark.parametrize(
    "name,value",
    [
        ("DEBUG", "maybe"),
        ("PIXELL_HTTPS", "1.0"),
        ("PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "enabled"),
        ("PIXELL_RATE_LIMIT_AUTHENTICATED", "1000 per hour"),
        ("PIXELL_RATE_LIMIT_ANONYMOUS", "100/w"),
        ("PIXELL_EMAIL_VERIFICATION", "sometimes"),
        ("PIXELL_SIGNUP_CREDITS", "a hundred"),
        ("PIXELL_MAX_PACKAGE_BYTES", "100MB"),
    ],
)
def test_malformed_values_refuse_to_boot(load_settings, name, value):
    # A typo must not silently fall back to a default (e.g. DEBUG=ture meaning production).
    with pytest.raises(ImproperlyConfigured, match=name):
        load_settings(SECRET_KEY="x" * 40, **{name: value})


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("1", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("off", False),
    ],
)
def test_booleans_are_parsed_strictly(monkeypatch, raw, expected):
    monkeypatch.setenv("PIXELL_PROBE_FLAG", raw)
    assert env.get_bool("PIXELL_PROBE_FLAG", not expected) is expected


def test_empty_means_unset(monkeypatch):
    monkeypatch.setenv("PIXELL_PROBE", "")
    assert env.get_str("PIXELL_PROBE", "default") == "default"
    assert env.get_bool("PIXELL_PROBE", True) is True
    assert env.get_int("PIXELL_PROBE", 7) == 7
    assert env.get_list("PIXELL_PROBE", ["a"]) == ["a"]


_ENV_READ = re.compile(r"\bos\.(environ|getenv)\b")
_ALLOWED_ENV_READ = re.compile(r'os\.environ\.setdefault\("DJANGO_SETTINGS_MODULE"')


def test_only_the_env_module_reads_the_environment():
    """docs/ARCHITECTURE.md, habit 6: configuration is read in one place, so the README table is the whole truth."""
    offenders = []
    for path in sorted(BASE_DIR.glob("*/**/*.py")):
        rel = path.relative_to(BASE_DIR)
        if rel.parts[0] in {".venv", "tests", "benchmarks", "var", "node_modules"} or rel == Path(
            "pixell/env.py"
        ):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _ENV_READ.search(line) and not _ALLOWED_ENV_READ.search(line):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert offenders == [], (
        "read configuration through pixell.env in settings instead:\n" + "\n".join(offenders)
    )


def test_every_variable_settings_read_is_in_the_readme_table():
    names = set(re.findall(r'env\.get_\w+\(\s*"([A-Z0-9_]+)"', SETTINGS_FILE.read_text()))
    readme = (BASE_DIR / "README.md").read_text()
    table = "\n".join(line for line in readme.splitlines() if line.startswith("|"))
    missing = sorted(name for name in names if f"`{name}`" not in table)
    assert missing == [], f"README.md's configuration table does not explain: {', '.join(missing)}"


@pytest.mark.parametrize("name", ["PIXELL_RUNTIME_SECRET", "CRON_SECRET"])
def test_short_shared_secrets_refuse_to_boot(load_settings, name):
    # These secrets authenticate machine endpoints; a short one can be guessed.
    with pytest.raises(ImproperlyConfigured, match=f"{name} must be at least 32 characters"):
        load_settings(SECRET_KEY="x" * 40, **{name: "short-secret"})
    assert getattr(load_settings(SECRET_KEY="x" * 40, **{name: "s" * 32}), name) == "s" * 32
