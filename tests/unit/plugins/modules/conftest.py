"""Keep the modules' default fingerprint key file out of the real /var/lib (tests run as root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.dataops.airflow.plugins.module_utils import units


@pytest.fixture(autouse=True)
def default_key_file(tmp_path: Path, monkeypatch) -> Path:
    """The path the modules use when ``fingerprint_key_file`` is not given (missing at first)."""
    path = tmp_path / "default-key" / "fingerprint.key"
    # Both modules take the option's default from this shared spec.
    monkeypatch.setitem(
        units.UNIT_STATE_ARGUMENT_SPEC["fingerprint_key_file"], "default", str(path)
    )
    return path
