"""The Redis cache's one-round-trip incr keeps Django's contract (ValueError for a missing key)."""

import os

import pytest
import redis

from pixell.cache import PixellRedisCache

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_cache():
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    cache = PixellRedisCache(REDIS_URL, {"KEY_PREFIX": "pixell-cache-test"})
    cache.delete_many(["counter", "missing"])
    yield cache
    cache.delete_many(["counter", "missing"])


def test_incr_of_missing_key_raises_and_creates_nothing(redis_cache):
    with pytest.raises(ValueError):
        redis_cache.incr("missing")
    assert redis_cache.get("missing") is None


def test_incr_counts_and_keeps_the_ttl(redis_cache):
    assert redis_cache.add("counter", 1, timeout=60)
    assert redis_cache.incr("counter") == 2
    assert redis_cache.incr("counter", 5) == 7
    assert redis_cache.get("counter") == 7
    client = redis.Redis.from_url(REDIS_URL)
    assert 0 < client.ttl(redis_cache.make_and_validate_key("counter")) <= 60


def test_incr_is_one_round_trip(redis_cache, monkeypatch):
    redis_cache.add("counter", 1, timeout=60)
    redis_cache.incr("counter")  # loads the script
    calls = []
    original = redis.Redis.execute_command

    def counting(self, *args, **kwargs):
        calls.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    redis_cache.incr("counter")
    assert calls == ["EVALSHA"]


def test_one_client_object_per_pool(redis_cache):
    client = redis_cache._cache
    assert client.get_client("a", write=True) is client.get_client("b", write=True)


def test_counters_hit_counts_reads_and_sets_ttl_in_one_round_trip(redis_cache, monkeypatch):
    redis_cache.delete_many(["c1", "c2", "r1", "r2"])
    redis_cache.set("r1", "token-a")
    calls = []
    original = redis.client.Pipeline.execute

    def counting(self, *args, **kwargs):
        calls.append(len(self.command_stack))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counting)
    counts, values = redis_cache.counters_hit([("c1", 60), ("c2", 120)], ["r1", "r2"])
    assert counts == [1, 1] and values == ["token-a", None]
    counts, _ = redis_cache.counters_hit([("c1", 60)], [])
    assert counts == [2]
    assert len(calls) == 2  # one pipeline execution per call
    client = redis.Redis.from_url(REDIS_URL)
    assert 0 < client.ttl(redis_cache.make_and_validate_key("c2")) <= 120
    redis_cache.delete_many(["c1", "c2", "r1"])


def test_counters_hit_portable_path_matches(settings, tmp_path):
    from django.core.cache import cache

    from pixell.cache import counters_hit

    # Django's setting_changed handler rebuilds the cache handlers for the new CACHES.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path),
        }
    }
    cache.set("r1", "token-a")
    assert counters_hit([("c1", 60)], ["r1", "r2"]) == ([1], ["token-a", None])
    assert counters_hit([("c1", 60)], []) == ([2], [])
