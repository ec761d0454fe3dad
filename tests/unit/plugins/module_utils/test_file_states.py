"""Reading many paths at once and deciding whether a template or copy can be skipped."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.dataops.airflow.plugins.module_utils.file_states import (
    normalise_mode,
    read_state,
    read_states,
    state_matches,
)
from ansible_collections.dataops.airflow.plugins.modules import file_states
from ansible_collections.dataops.airflow.plugins.test.file_in_state import TestModule

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "airflow.cfg"
    path.write_text("[core]\nparallelism = 32\n")
    path.chmod(0o640)
    return path


def test_a_regular_file_reports_kind_owner_group_mode_and_checksum(cfg: Path) -> None:
    assert read_state(str(cfg)) == {
        "exists": True,
        "kind": "file",
        "mode": "0640",
        "owner": ME,
        "group": MY_GROUP,
        "checksum": sha1("[core]\nparallelism = 32\n"),
    }


def test_a_missing_path_does_not_exist(tmp_path: Path) -> None:
    assert read_state(str(tmp_path / "nope")) == {"exists": False}


def test_a_directory_has_no_checksum(tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir(mode=0o750)
    folder.chmod(0o750)
    state = read_state(str(folder))
    assert state["kind"] == "directory"
    assert state["mode"] == "0750"
    assert "checksum" not in state


def test_a_link_is_not_followed(tmp_path: Path, cfg: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(cfg)
    state = read_state(str(link))
    assert state["kind"] == "link"
    assert state["src"] == str(cfg)
    assert "checksum" not in state


def test_a_path_under_a_file_is_reported_as_an_error(cfg: Path) -> None:
    state = read_state(str(cfg / "below"))
    assert state["exists"] is False
    assert state["error"]


@pytest.mark.skipif(os.getuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_reported_as_an_error(cfg: Path) -> None:
    cfg.chmod(0)
    state = read_state(str(cfg))
    assert state["exists"] is True
    assert state["error"]
    assert not state_matches(state, mode="0000")


def test_read_states_keys_by_the_path_as_given(tmp_path: Path, cfg: Path) -> None:
    states = read_states([str(cfg), str(tmp_path / "nope")])
    assert list(states) == [str(cfg), str(tmp_path / "nope")]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0640", "0640"),
        ("640", "0640"),
        (0o640, "0640"),
        ("0755", "0755"),
        ("1777", "1777"),
        (None, None),
    ],
)
def test_modes_are_normalised(given: object, expected: str | None) -> None:
    assert normalise_mode(given) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["u+rw", "0999", "", "77777", True])
def test_a_symbolic_or_bad_mode_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        normalise_mode(bad)  # type: ignore[arg-type]


def test_a_file_with_the_wanted_content_owner_group_and_mode_matches(cfg: Path) -> None:
    state = read_state(str(cfg))
    assert state_matches(
        state, content="[core]\nparallelism = 32\n", owner=ME, group=MY_GROUP, mode="0640"
    )
    assert state_matches(state, checksum=sha1("[core]\nparallelism = 32\n"), mode=0o640)


@pytest.mark.parametrize(
    "wanted",
    [
        {"content": "[core]\nparallelism = 31\n"},
        {"content": "[core]\nparallelism = 32"},  # the trailing newline counts
        {"mode": "0644"},
        {"owner": "nobody-such-user"},
        {"group": "nobody-such-group"},
        {"kind": "directory"},
    ],
)
def test_any_differing_property_does_not_match(cfg: Path, wanted: dict) -> None:
    assert not state_matches(read_state(str(cfg)), **wanted)


def test_a_symbolic_mode_never_matches(cfg: Path) -> None:
    assert not state_matches(read_state(str(cfg)), mode="u=rw,g=r")


def test_nothing_missing_or_absent_ever_matches(tmp_path: Path) -> None:
    assert not state_matches(read_state(str(tmp_path / "nope")))
    assert not state_matches(None)
    assert not state_matches({})


def test_a_link_matches_on_its_target(tmp_path: Path, cfg: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(cfg)
    assert state_matches(read_state(str(link)), kind="link", src=str(cfg))
    assert not state_matches(read_state(str(link)), kind="link", src="/elsewhere")


def test_content_is_compared_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "tz"
    path.write_bytes("timezone = Asia/Jakarta ✓\n".encode())
    assert state_matches(read_state(str(path)), content="timezone = Asia/Jakarta ✓\n")


def test_the_test_plugin_is_registered_under_its_name() -> None:
    assert TestModule().tests()["file_in_state"] is state_matches


def test_the_module_reports_every_path_and_never_changes(capsys, cfg: Path, tmp_path: Path) -> None:
    args = {"paths": [str(cfg), str(tmp_path / "nope")], "_ansible_check_mode": True}
    with patch_module_args(args), pytest.raises(SystemExit):
        file_states.main()
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] is False
    assert out["states"][str(cfg)]["mode"] == "0640"
    assert out["states"][str(tmp_path / "nope")] == {"exists": False}


def test_the_module_requires_paths(capsys) -> None:
    with patch_module_args({}), pytest.raises(SystemExit):
        file_states.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] is True
    assert "paths" in out["msg"]
