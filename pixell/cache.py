"""Django's Redis cache with a one-round-trip ``incr``.

Every /api request increments counters (its rate-limit bucket, its organization's API calls).
Django's ``RedisCacheClient.incr`` asks EXISTS and then INCRBY: two round trips per counter on the
hot path. The same check-then-increment runs here as one server-side script — also atomic, which the
two-command version is not (a key expiring between the two would be recreated without a TTL).
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_INCR_IF_EXISTS = """
if redis.call('exists', KEYS[1]) == 1 then
  return redis.call('incrby', KEYS[1], ARGV[1])
end
return false
"""


class PixellRedisCacheClient(RedisCacheClient):
    _incr_script = None

    def incr(self, key, delta):
        client = self.get_client(key, write=True)
        if self._incr_script is None:
            # EVALSHA after the first call; redis-py reloads the script if the server lost it.
            self._incr_script = client.register_script(_INCR_IF_EXISTS)
        value = self._incr_script(keys=[key], args=[delta], client=client)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value


class PixellRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = PixellRedisCacheClient
