"""Keep the modules' default fingerprint key file out of the real /var/lib (tests run as root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.dataops.airflow.plugins.modules import (
    airflow_config_hash,
    airflow_units,
)


@pytest.fixture(autouse=True)
def default_key_file(tmp_path: Path, monkeypatch) -> Path:
    """The path the modules use when ``fingerprint_key_file`` is not given (missing at first)."""
    path = tmp_path / "default-key" / "fingerprint.key"
    for module in (airflow_units, airflow_config_hash):
        monkeypatch.setattr(module, "FINGERPRINT_KEY_FILE", str(path))
    return path
