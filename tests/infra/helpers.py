"""Helpers shared by the infrastructure tests."""

from django.urls import Resolver404, resolve

# The product's configuration (docs/CONTRACT.md §1): what a test clears to see the embedded defaults.
PRODUCT_VARS = frozenset(
    {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "MEDIA_ROOT", "STATIC_ROOT", "DATABASE_URL", "CELERY_BROKER_URL",
     "REDIS_URL", "CRON_SECRET", "DEFAULT_FROM_EMAIL"}
)  # fmt: skip
PRODUCT_PREFIXES = ("PIXELL_", "AWS_", "STRIPE_", "EMAIL_")


def is_product_var(name: str) -> bool:
    return name in PRODUCT_VARS or name.startswith(PRODUCT_PREFIXES)


def is_routed(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True
