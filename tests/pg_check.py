"""Exit 0 when the PostgreSQL of the test pass answers, 1 otherwise (used by `make test`)."""

from __future__ import annotations

import os
import sys

import psycopg

url = os.environ.get("GLENGARRY_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
try:
    psycopg.connect(url, connect_timeout=3).close()
except psycopg.OperationalError as exc:
    print(f"PostgreSQL check: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
    sys.exit(1)
