"""Fixtures of the cluster drills: those of the other scenarios' tests (../tests/airflow_helpers.py)
and the services node."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from airflow_helpers import (  # after the path it is imported from
    api,
    hosts_of,
    inventory_vars,
    master,
    masters,
    worker,
    workers,
)

__all__ = ["api", "inventory_vars", "master", "masters", "services", "worker", "workers"]


@pytest.fixture(scope="session")
def services() -> Any:
    return hosts_of("services")[0]
