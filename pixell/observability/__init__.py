"""Operating the product (docs/OPERATIONS.md): request ids, JSON logs, Prometheus metrics.

Nothing here imports a domain app: apps report into it (counters) and register scrape-time
collectors with it from their ``AppConfig.ready()``.
"""
