"""The controller-side checksum that lets a copy task be skipped."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from ansible.errors import AnsibleLookupError
from ansible.parsing.dataloader import DataLoader

from ansible_collections.dataops.airflow.plugins.lookup.file_checksum import LookupModule


def lookup(*terms: str, search_path: Path) -> list[str]:
    plugin = LookupModule(loader=DataLoader())
    return plugin.run(list(terms), variables={"ansible_search_path": [str(search_path)]})


def test_the_sha1_of_the_bytes_of_a_file_in_the_files_folder(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    data = b"-----BEGIN CERTIFICATE-----\n\xe9t\xe9\n"  # not UTF-8: read as bytes
    (tmp_path / "files" / "ca.pem").write_bytes(data)
    assert lookup("ca.pem", search_path=tmp_path) == [hashlib.sha1(data).hexdigest()]


def test_an_absolute_path_and_several_terms(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.write_text("1\n")
    two.write_text("2\n")
    assert lookup(str(one), str(two), search_path=tmp_path) == [
        hashlib.sha1(b"1\n").hexdigest(),
        hashlib.sha1(b"2\n").hexdigest(),
    ]


def test_a_missing_file_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(AnsibleLookupError, match=r"missing\.pem"):
        lookup("missing.pem", search_path=tmp_path)
