"""Test data shared by the unit tests (tests/unit is on sys.path, see conftest.py)."""

from __future__ import annotations

# A small airflow.cfg with a secret and a plain key in each of two sections.
SAMPLE_CFG = """\
[core]
parallelism = 32
fernet_key = 7fQf0fX1L0w2yE4h6JkQ9mN3pR5tV8xZ1aB4cD6eF0g=
[celery]
broker_url = redis://:s3cret@redis:6379/0
worker_concurrency = 16
"""
