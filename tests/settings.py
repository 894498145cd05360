"""Settings for the test run: the product's settings with test-run defaults for what is unset.

The environment still wins (CI sets DATABASE_URL, CELERY_BROKER_URL and REDIS_URL).
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("PIXELL_HTTPS", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("PIXELL_DATA_DIR", tempfile.mkdtemp(prefix="pixell-test-"))
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")

from pixell.settings import *  # noqa: F403

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher"
]  # fast tests; production keeps PBKDF2

# WhiteNoise scans STATIC_ROOT at start-up and warns on every request handler build when it is
# missing; tests serve static files through the finders, so an empty folder is all it needs.
os.makedirs(STATIC_ROOT, exist_ok=True)  # noqa: F405
