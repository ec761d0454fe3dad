"""Fixtures of the EC2 scenario's tests: those of the other scenarios (../../resources/tests)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "resources", "tests"))

from airflow_helpers import (  # after the path it is imported from
    api,
    inventory_vars,
    master,
    masters,
    worker,
    workers,
)

__all__ = ["api", "inventory_vars", "master", "masters", "worker", "workers"]
