"""Make the checkout importable as ``ansible_collections.dataops.airflow`` for the unit tests.

A checkout that already sits at ``.../ansible_collections/dataops/airflow`` (as ansible-test
wants it) is used in place; any other checkout is linked from
``.cache/collections/ansible_collections/dataops/airflow`` (created here when missing, so a
fresh clone needs no set-up step).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _collections_root() -> Path:
    if REPO.parts[-3:] == ("ansible_collections", "dataops", "airflow"):
        return REPO.parents[2]
    root = REPO / ".cache" / "collections"
    link = root / "ansible_collections" / "dataops" / "airflow"
    if not (link.exists() and link.resolve() == REPO):
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(REPO, target_is_directory=True)
    return root


_ROOT = str(_collections_root())
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
# ... and sample_data.py next to this file importable as ``sample_data``.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., str]:
    """``write("etc/airflow.cfg", "text" or b"bytes")`` -> absolute path of the new file."""

    def _write(relative: str, content: str | bytes) -> str:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))
        return str(path)

    return _write
