"""Exit 0 when the services of the scaled test pass answer (PostgreSQL, and Redis for its
queue), 1 otherwise, saying which is missing (used by `make test`)."""

from __future__ import annotations

import os
import sys

import psycopg
import redis

pg_url = os.environ.get("GLENGARRY_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
redis_url = os.environ.get("GLENGARRY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
missing = []
try:
    psycopg.connect(pg_url, connect_timeout=3).close()
except psycopg.OperationalError as exc:
    missing.append(f"PostgreSQL: {str(exc).strip().splitlines()[0]}")
try:
    redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
except redis.RedisError as exc:
    missing.append(f"Redis: {exc}")
for problem in missing:
    print(f"service check: {problem}", file=sys.stderr)
sys.exit(1 if missing else 0)
