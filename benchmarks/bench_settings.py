"""Benchmark settings: the product's settings, with benchmark-only routes mounted beside it.

Used as DJANGO_SETTINGS_MODULE by benchmarks that start a real server (benchmarks/harness.py).
"""

from pixell.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
