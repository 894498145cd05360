"""The only module that reads ``os.environ`` (docs/CONTRACT.md §1).

Every setting the product understands is parsed here, strictly: a malformed boolean or rate is an
error at boot, not a silent default.
"""

import ipaddress
import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def get_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def get_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def get_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc


def get_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


_RATE = re.compile(r"^\d+/[smhd]$")


def get_rate(name: str, default: str) -> str:
    value = get_str(name, default)
    if not _RATE.match(value):
        raise ImproperlyConfigured(f"{name} must look like N/s, N/m, N/h or N/d, not {value!r}")
    return value


def get_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = get_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def get_path(name: str, default: Path) -> Path:
    value = get_str(name)
    return Path(value).resolve() if value else default


def get_networks(name: str) -> tuple:
    """Comma-separated addresses/CIDRs → a tuple of ``ipaddress`` networks (unset: empty).

    A bare address is a one-address network; anything unparsable stops the boot.
    """
    networks = []
    for item in get_list(name, []):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{name} must be comma-separated IP addresses or CIDR networks; {item!r} is not one"
            ) from exc
    return tuple(networks)


def passthrough(names: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """The machine's own variables a child tool needs as they are (certificates, proxies), not
    settings of ours: the local runtime hands them to its package installer and nothing else."""
    return {
        key: value
        for key, value in os.environ.items()
        if key in names or (prefixes and key.startswith(prefixes))
    }


def metrics_dir() -> Path:
    """PIXELL_METRICS_DIR (default ``<PIXELL_DATA_DIR>/metrics``), created and exported as
    PROMETHEUS_MULTIPROC_DIR: prometheus-client reads that variable once, when it is first
    imported, which can be before settings load (pixell/__init__ imports the Celery app), so
    pixell.observability.metrics calls this before importing it. An explicit
    PROMETHEUS_MULTIPROC_DIR wins."""
    explicit = get_str("PROMETHEUS_MULTIPROC_DIR")
    if explicit:
        path = Path(explicit)
    else:
        path = get_path(
            "PIXELL_METRICS_DIR", get_path("PIXELL_DATA_DIR", BASE_DIR / "var") / "metrics"
        )
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def get_secret(name: str, *, min_length: int) -> str | None:
    """A shared secret (unset: None); one shorter than ``min_length`` stops the boot."""
    value = get_str(name)
    if value is not None and len(value) < min_length:
        raise ImproperlyConfigured(
            f"{name} must be at least {min_length} characters (got {len(value)}); generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return value
