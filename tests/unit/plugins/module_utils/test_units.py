"""Unit state and staleness: what decides whether a converge restarts a running process."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from ansible_collections.dataops.airflow.plugins.module_utils import units
from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import ReadError
from ansible_collections.dataops.airflow.plugins.module_utils.units import (
    FINGERPRINT_KEY_FILE,
    INPUT_FILES_VARIABLE,
    INPUTS_VARIABLE,
    RECORD_SLACK_SECONDS,
    STATE_DIR,
    _running_environ,
    changed_since,
    configured_environment,
    inputs_fingerprint,
    list_unit_files,
    load_fingerprint_key,
    parse_environment,
    parse_environment_files,
    parse_show,
    parse_unit_files,
    read_start_record,
    read_units,
    start_record_path,
    unit_environments,
    unit_state,
)

SHOW = """Id=airflow-scheduler.service
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled
MainPID=4242
NeedDaemonReload=no
Environment=DATAOPS_AIRFLOW_INPUTS=abc123 "GREETING=hello world"
EnvironmentFiles=/etc/airflow/airflow.env (ignore_errors=no)
EnvironmentFiles=/etc/airflow/secrets.env (ignore_errors=yes)
DropInPaths=
FragmentPath=/etc/systemd/system/airflow-scheduler.service

Id=airflow-triggerer.service
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=
MainPID=0
NeedDaemonReload=no
Environment=
EnvironmentFiles=
DropInPaths=
FragmentPath=
"""


def test_parse_show_splits_units_and_keeps_repeated_keys() -> None:
    blocks = parse_show(SHOW)
    assert [b["Id"] for b in blocks] == [
        ["airflow-scheduler.service"],
        ["airflow-triggerer.service"],
    ]
    assert len(blocks[0]["EnvironmentFiles"]) == 2


def test_parse_environment_understands_systemctl_quoting() -> None:
    env = parse_environment(['DATAOPS_AIRFLOW_INPUTS=abc123 "GREETING=hello world"'])
    assert env == {INPUTS_VARIABLE: "abc123", "GREETING": "hello world"}
    assert parse_environment([""]) == {}


def test_parse_environment_files_reads_the_optional_flag() -> None:
    files = parse_environment_files(
        ["/etc/a.env (ignore_errors=no)", "/etc/b.env (ignore_errors=yes)", ""]
    )
    assert files == [("/etc/a.env", False), ("/etc/b.env", True)]


def test_environment_files_override_environment_in_order(write: Callable[..., str]) -> None:
    first = write("a.env", "AIRFLOW__CORE__PARALLELISM=8\nX=1\n")
    second = write("b.env", "AIRFLOW__CORE__PARALLELISM='16'\n")
    env, problems = configured_environment(
        {"AIRFLOW__CORE__PARALLELISM": "4", "Y": "2"}, [(first, False), (second, False)]
    )
    assert env == {"AIRFLOW__CORE__PARALLELISM": "16", "X": "1", "Y": "2"}
    assert problems == []


def test_a_missing_required_environment_file_is_a_problem(tmp_path) -> None:
    missing = str(tmp_path / "nope.env")
    assert configured_environment({}, [(missing, True)])[1] == []
    assert configured_environment({}, [(missing, False)])[1] == [f"{missing}: missing"]


def test_inputs_fingerprint_changes_with_content_and_counts_missing_files(
    write: Callable[..., str], tmp_path
) -> None:
    cfg = write("airflow.cfg", "[core]\n")
    missing = str(tmp_path / "lock")
    before = inputs_fingerprint([cfg, missing])
    sha1 = hashlib.sha1(b"[core]\n").hexdigest()
    assert before == hashlib.sha256(f"{sha1} missing".encode()).hexdigest()
    write("airflow.cfg", "[core]\nparallelism = 3\n")
    assert inputs_fingerprint([cfg, missing]) != before


def _block(pid: int = 10, inputs: str = "fp", active: str = "active", **extra: str) -> dict:
    block = {
        "Id": ["airflow-celery-worker.service"],
        "LoadState": ["loaded"],
        "ActiveState": [active],
        "SubState": ["running"],
        "UnitFileState": ["enabled"],
        "MainPID": [str(pid)],
        "NeedDaemonReload": ["no"],
        "Environment": [f"{INPUTS_VARIABLE}={inputs}"],
        "EnvironmentFiles": [],
        "DropInPaths": [""],
        "FragmentPath": [""],
    }
    for key, value in extra.items():
        block[key] = [value]
    return block


def _never_started(_pid: int) -> float | None:
    return None


def test_a_process_started_with_the_current_inputs_is_not_stale() -> None:
    state = unit_state(_block(), "fp", lambda pid: {INPUTS_VARIABLE: "fp"}, _never_started)
    assert state["stale"] is False
    assert state["running_inputs"] == "fp"


def test_a_process_started_before_its_inputs_changed_is_stale() -> None:
    # The unit file already carries the new fingerprint (written, then the run was cut off).
    state = unit_state(_block(inputs="new"), "new", lambda pid: {INPUTS_VARIABLE: "old"})
    assert state["stale"] is True
    assert "inputs fingerprint differs" in state["stale_reasons"][0]


def test_a_drop_in_environment_the_process_lacks_makes_it_stale() -> None:
    block = _block(Environment=f"{INPUTS_VARIABLE}=fp AIRFLOW__CELERY__WORKER_CONCURRENCY=1")
    state = unit_state(block, "fp", lambda pid: {INPUTS_VARIABLE: "fp"}, _never_started)
    assert state["stale"] is True
    assert state["stale_reasons"] == [
        "runs with another environment than its unit sets: AIRFLOW__CELERY__WORKER_CONCURRENCY"
    ]


def test_stale_reasons_never_hold_values() -> None:
    block = _block(Environment=f"{INPUTS_VARIABLE}=fp AIRFLOW__CORE__FERNET_KEY=new-secret")
    running = {INPUTS_VARIABLE: "fp", "AIRFLOW__CORE__FERNET_KEY": "old-secret"}
    state = unit_state(block, "fp", lambda pid: running, _never_started)
    assert state["stale"] is True
    assert "secret" not in repr(state).replace("AIRFLOW__CORE__FERNET_KEY", "")


def test_a_unit_file_edited_after_the_start_makes_it_stale(write: Callable[..., str]) -> None:
    unit = write("airflow-celery-worker.service", "[Service]\n")
    os.utime(unit, (2000.0, 2000.0))
    block = _block(FragmentPath=unit)
    env = {INPUTS_VARIABLE: "fp"}
    assert unit_state(block, "fp", lambda pid: env, lambda pid: 1990.0)["stale"] is True
    assert unit_state(block, "fp", lambda pid: env, lambda pid: 2000.5)["stale"] is False
    assert changed_since([unit], 1990.0) == [unit]


def test_a_unit_that_does_not_run_is_never_stale() -> None:
    state = unit_state(_block(pid=0, active="failed"), "fp", lambda pid: None, _never_started)
    assert state["stale"] is False
    assert state["active_state"] == "failed"


def test_an_unreadable_process_environment_counts_as_stale() -> None:
    state = unit_state(_block(), "fp", lambda pid: None, _never_started)
    assert state["stale"] is True


class FakeSystemctl:
    def __init__(self, out: str, rc: int = 0) -> None:
        self.out = out
        self.rc = rc
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        return self.rc, self.out, "Failed to connect to bus" if self.rc else ""


def test_read_units_reports_each_unit_and_the_stale_ones(tmp_path) -> None:
    run = FakeSystemctl(SHOW)
    result = read_units(
        ["airflow-scheduler.service", "airflow-triggerer.service"],
        run,
        inputs=[str(tmp_path / "missing")],
        read_environ=lambda pid: {INPUTS_VARIABLE: "abc123", "GREETING": "hello world"},
        start_time=_never_started,
    )
    assert run.calls[0][-3:] == ["--", "airflow-scheduler.service", "airflow-triggerer.service"]
    scheduler = result["units"]["airflow-scheduler.service"]
    assert scheduler["main_pid"] == 4242
    assert scheduler["environment_files"] == [
        "/etc/airflow/airflow.env",
        "/etc/airflow/secrets.env",
    ]
    # abc123 is not the fingerprint of the inputs now
    assert result["stale"] == ["airflow-scheduler.service"]
    assert result["units"]["airflow-triggerer.service"]["load_state"] == "not-found"


def test_read_units_fails_when_systemctl_fails() -> None:
    with pytest.raises(ReadError, match="systemctl show failed"):
        read_units(["x.service"], FakeSystemctl("", rc=1))


def test_unit_environments_skip_units_that_are_not_loaded(write: Callable[..., str]) -> None:
    env_file = write("airflow.env", "AIRFLOW__CORE__PARALLELISM=8\n")
    out = SHOW.replace("/etc/airflow/airflow.env", env_file).replace(
        "EnvironmentFiles=/etc/airflow/secrets.env (ignore_errors=yes)\n", ""
    )
    environments = unit_environments(
        ["airflow-scheduler.service", "airflow-triggerer.service"], FakeSystemctl(out)
    )
    assert list(environments) == ["airflow-scheduler.service"]
    env, problems = environments["airflow-scheduler.service"]
    assert env["AIRFLOW__CORE__PARALLELISM"] == "8"
    assert env["GREETING"] == "hello world"
    assert problems == []


def test_list_unit_files_skips_templates_and_aliases_and_reads_no_match_as_none() -> None:
    text = (
        "airflow-scheduler.service   enabled enabled\n"
        "airflow-task@.service       enabled enabled\n"
        "airflow-sched.service       alias   -\n"
        "airflow-triggerer.service   disabled enabled\n"
    )
    assert parse_unit_files(text) == ["airflow-scheduler.service", "airflow-triggerer.service"]
    assert list_unit_files("airflow-*.service", lambda argv: (1, "", "")) == []
    with pytest.raises(ReadError, match="list-unit-files failed"):
        list_unit_files("x*", lambda argv: (1, "", "Failed to connect to bus: No such file"))


# --- start records: the environment each start ran with, written by ExecStartPre=+ -----------

WORKER = "airflow-celery-worker.service"
NOT_RECORDED = (
    "the environment it was started with is not recorded (started by an older unit file?)"
)


def _record(state_dir, unit: str, environ: dict[str, str], mtime: float | None = None) -> str:
    """What ``env -0 > STATE_DIR/<unit>.environ`` writes; ``mtime`` dates it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"{unit}.environ"
    path.write_bytes(
        b"".join(f"{name}={value}".encode() + b"\0" for name, value in environ.items())
    )
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return str(path)


def test_start_record_path_is_the_unit_name_in_the_state_dir(tmp_path) -> None:
    assert STATE_DIR == "/run/dataops-airflow"
    assert start_record_path(WORKER) == f"/run/dataops-airflow/{WORKER}.environ"
    assert start_record_path(WORKER, str(tmp_path)) == str(tmp_path / f"{WORKER}.environ")


def test_read_start_record_parses_env_0_output_and_dates_it(tmp_path) -> None:
    environ = {INPUTS_VARIABLE: "fp", "MULTI": "a\nb=c", "EMPTY": ""}
    path = _record(tmp_path, WORKER, environ, mtime=5000.0)
    assert path == start_record_path(WORKER, str(tmp_path))
    assert read_start_record(WORKER, str(tmp_path)) == (environ, 5000.0)


def test_read_start_record_of_a_unit_without_one_is_none(tmp_path) -> None:
    assert read_start_record(WORKER, str(tmp_path)) is None
    assert read_start_record(WORKER, str(tmp_path / "absent")) is None


def test_a_recent_record_is_the_running_environment(tmp_path) -> None:
    environ = {INPUTS_VARIABLE: "fp", "AIRFLOW__CORE__PARALLELISM": "8"}
    _record(tmp_path, WORKER, environ, mtime=9990.0)
    # Written by ExecStartPre just before the process started, or (Restart=) up to the slack
    # before.
    assert _running_environ(WORKER, 10, None, lambda pid: 9991.5, str(tmp_path)) == environ
    started = 9990.0 + RECORD_SLACK_SECONDS
    assert _running_environ(WORKER, 10, None, lambda pid: started, str(tmp_path)) == environ
    # An unknown start time cannot date the record: it is taken as it is.
    assert _running_environ(WORKER, 10, None, _never_started, str(tmp_path)) == environ


def test_a_record_older_than_the_process_by_more_than_the_slack_is_missing(tmp_path) -> None:
    _record(tmp_path, WORKER, {INPUTS_VARIABLE: "fp"}, mtime=1000.0)
    started = 1000.0 + RECORD_SLACK_SECONDS + 1.0
    assert RECORD_SLACK_SECONDS == 60.0
    assert _running_environ(WORKER, 10, None, lambda pid: started, str(tmp_path)) is None


def test_a_missing_record_is_none_and_a_reader_given_wins(tmp_path) -> None:
    assert _running_environ(WORKER, 10, None, _never_started, str(tmp_path)) is None
    _record(tmp_path, WORKER, {INPUTS_VARIABLE: "recorded"})
    given = {INPUTS_VARIABLE: "given"}
    assert _running_environ(WORKER, 10, lambda pid: given, _never_started, str(tmp_path)) == given
    # No unit name (or one that is not a file name): no record to read.
    assert _running_environ("", 10, None, _never_started, str(tmp_path)) is None
    assert _running_environ("../x", 10, None, _never_started, str(tmp_path)) is None


def test_unit_state_reads_the_record_by_default(tmp_path) -> None:
    _record(tmp_path, WORKER, {INPUTS_VARIABLE: "fp"}, mtime=2000.0)
    state = unit_state(_block(), "fp", start_time=lambda pid: 2001.0, state_dir=str(tmp_path))
    assert state["stale"] is False
    assert state["running_inputs"] == "fp"
    newer = unit_state(_block(inputs="new"), "new", None, lambda pid: 2001.0, str(tmp_path))
    assert newer["stale"] is True
    assert "inputs fingerprint differs" in newer["stale_reasons"][0]


def test_a_missing_record_makes_a_running_unit_stale(tmp_path) -> None:
    state = unit_state(_block(), "fp", start_time=_never_started, state_dir=str(tmp_path))
    assert state["stale"] is True
    assert state["stale_reasons"] == [NOT_RECORDED]
    assert state["running_inputs"] is None


def test_a_record_of_an_earlier_start_makes_the_unit_stale(tmp_path) -> None:
    _record(tmp_path, WORKER, {INPUTS_VARIABLE: "fp"}, mtime=1000.0)
    state = unit_state(_block(), "fp", None, lambda pid: 1000.0 + 61.0, str(tmp_path))
    assert state["stale"] is True
    assert state["stale_reasons"] == [NOT_RECORDED]


def test_read_units_passes_the_state_dir_on(tmp_path) -> None:
    out = SHOW.replace("EnvironmentFiles=/etc/airflow/airflow.env (ignore_errors=no)\n", "")
    running = {INPUTS_VARIABLE: "abc123", "GREETING": "hello world"}
    _record(tmp_path, "airflow-scheduler.service", running)
    names = ["airflow-scheduler.service", "airflow-triggerer.service"]
    result = read_units(
        names, FakeSystemctl(out), start_time=_never_started, state_dir=str(tmp_path)
    )
    assert result["stale"] == []
    assert result["units"]["airflow-scheduler.service"]["running_inputs"] == "abc123"
    missing = read_units(
        names, FakeSystemctl(out), start_time=_never_started, state_dir=str(tmp_path / "none")
    )
    assert missing["stale"] == ["airflow-scheduler.service"]
    assert missing["units"]["airflow-scheduler.service"]["stale_reasons"] == [NOT_RECORDED]


def test_without_a_state_dir_the_records_are_read_from_state_dir(monkeypatch) -> None:
    asked: list[tuple[str, str]] = []

    def fake_record(unit: str, state_dir: str) -> tuple[dict[str, str], float]:
        asked.append((unit, state_dir))
        return {INPUTS_VARIABLE: "fp"}, 0.0

    monkeypatch.setattr(units, "read_start_record", fake_record)
    assert unit_state(_block(), "fp", start_time=_never_started)["stale"] is False
    assert asked == [(WORKER, STATE_DIR)]


# --- the fingerprint key -----------------------------------------------------------------------

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


def _key_file(tmp_path: Path, text: str = KEY_A.hex() + "\n", mode: int = 0o600) -> str:
    path = tmp_path / "fingerprint.key"
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_the_default_key_file_is_root_only_bookkeeping() -> None:
    assert FINGERPRINT_KEY_FILE == "/var/lib/dataops-airflow/fingerprint.key"


def test_a_missing_key_is_none_unless_asked_to_create(tmp_path) -> None:
    path = tmp_path / "dataops-airflow" / "fingerprint.key"
    assert load_fingerprint_key(str(path)) is None
    assert load_fingerprint_key(str(path), create=False) is None
    assert not path.parent.exists()


def test_a_created_key_is_random_root_only_and_kept(tmp_path) -> None:
    path = tmp_path / "lib" / "dataops-airflow" / "fingerprint.key"
    key = load_fingerprint_key(str(path), create=True)
    assert isinstance(key, bytes)
    assert len(key) == 32
    info = path.lstat()
    assert stat.S_ISREG(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.geteuid()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == key.hex() + "\n"
    # No temporary file left behind; the next load (creating or not) gives the same key.
    assert os.listdir(path.parent) == ["fingerprint.key"]
    assert load_fingerprint_key(str(path), create=True) == key
    assert load_fingerprint_key(str(path)) == key
    other = load_fingerprint_key(str(tmp_path / "other" / "fingerprint.key"), create=True)
    assert other != key


def test_creating_ignores_the_umask(tmp_path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "d" / "fingerprint.key"
        load_fingerprint_key(str(path), create=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_key_created_meanwhile_is_not_replaced(tmp_path, monkeypatch) -> None:
    path = tmp_path / "fingerprint.key"
    real_link = os.link

    def racing_link(source, target):
        # Another run creates its key between our open (missing) and our link.
        _key_file(tmp_path, KEY_B.hex())
        return real_link(source, target)

    monkeypatch.setattr(units.os, "link", racing_link)
    assert load_fingerprint_key(str(path), create=True) == KEY_B
    assert os.listdir(tmp_path) == ["fingerprint.key"]


def test_an_existing_key_is_read_and_surrounding_space_ignored(tmp_path) -> None:
    assert load_fingerprint_key(_key_file(tmp_path, f"  {KEY_A.hex()}\n\n")) == KEY_A
    os.chmod(tmp_path / "fingerprint.key", 0o400)
    assert load_fingerprint_key(str(tmp_path / "fingerprint.key")) == KEY_A


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o666])
def test_a_key_others_can_read_or_write_is_refused(tmp_path, mode: int) -> None:
    path = _key_file(tmp_path, mode=mode)
    for create in (False, True):
        with pytest.raises(ReadError) as caught:
            load_fingerprint_key(path, create=create)
        assert caught.value.path == path
        assert "accessible to group or others" in caught.value.reason
        assert f"{mode:04o}" in str(caught.value)
        assert KEY_A.hex() not in str(caught.value)
    # Refused, never repaired or replaced.
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert Path(path).read_text() == KEY_A.hex() + "\n"


def test_a_symlinked_key_file_is_refused_and_not_followed(tmp_path) -> None:
    target = _key_file(tmp_path)
    link = tmp_path / "link.key"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.key"
    dangling.symlink_to(tmp_path / "nowhere")
    for path in (link, dangling):
        for create in (False, True):
            with pytest.raises(ReadError) as caught:
                load_fingerprint_key(str(path), create=create)
            assert caught.value.path == str(path)
            assert "symbolic link" in caught.value.reason
    # A dangling link is not "missing": nothing was created where it points.
    assert not (tmp_path / "nowhere").exists()


def test_a_key_file_that_is_not_a_regular_file_is_refused(tmp_path) -> None:
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)
    directory = tmp_path / "dir.key"
    directory.mkdir(mode=0o700)
    for path in (fifo, directory):
        with pytest.raises(ReadError) as caught:
            load_fingerprint_key(str(path))
        assert "not a regular file" in caught.value.reason


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_key_file_owned_by_another_user_is_refused(tmp_path) -> None:
    path = _key_file(tmp_path)
    os.chown(path, 4242, -1)
    with pytest.raises(ReadError) as caught:
        load_fingerprint_key(path)
    assert "not owned by the user running the module" in caught.value.reason
    assert "4242" in caught.value.detail


@pytest.mark.parametrize("text", ["", "not hex\n", "abcd\n", KEY_A.hex() + "00\n"])
def test_a_key_file_without_a_key_is_refused(tmp_path, text: str) -> None:
    with pytest.raises(ReadError) as caught:
        load_fingerprint_key(_key_file(tmp_path, text))
    assert "is not a fingerprint key" in caught.value.reason


def test_a_key_directory_others_can_write_is_refused_when_creating(tmp_path) -> None:
    directory = tmp_path / "open"
    directory.mkdir()
    os.chmod(directory, 0o777)
    with pytest.raises(ReadError) as caught:
        load_fingerprint_key(str(directory / "fingerprint.key"), create=True)
    assert caught.value.path == str(directory)
    assert os.listdir(directory) == []


def test_the_keyed_fingerprint_is_an_hmac_of_the_same_text(write: Callable[..., str]) -> None:
    cfg = write("airflow.cfg", "[core]\n")
    secrets = write("worker-secrets.env", "AIRFLOW__CELERY__BROKER_URL=redis://:pw@h/0\n")
    paths = [cfg, secrets, cfg + ".missing"]
    text = " ".join(
        [
            hashlib.sha1(b"[core]\n").hexdigest(),
            hashlib.sha1(Path(secrets).read_bytes()).hexdigest(),
            "missing",
        ]
    ).encode()
    plain = inputs_fingerprint(paths)
    assert plain == hashlib.sha256(text).hexdigest()
    keyed = inputs_fingerprint(paths, KEY_A)
    assert keyed == hmac.new(KEY_A, text, hashlib.sha256).hexdigest()
    assert keyed != plain
    assert inputs_fingerprint(paths, KEY_B) != keyed
    assert inputs_fingerprint(paths, KEY_A) == keyed
    assert inputs_fingerprint(paths, None) == plain


def _self_describing(paths: Sequence[str], fingerprint: str) -> dict:
    block = _block(inputs=fingerprint)
    block["Environment"] = [
        f"{INPUTS_VARIABLE}={fingerprint} {INPUT_FILES_VARIABLE}={':'.join(paths)}"
    ]
    return block


def test_read_units_keys_the_fingerprint_of_a_units_own_input_files(
    write: Callable[..., str],
) -> None:
    paths = [write("airflow.cfg", "[core]\n"), write("secrets.env", "X=1\n")]
    keyed = inputs_fingerprint(paths, KEY_A)
    block = _self_describing(paths, keyed)
    show = "\n".join(f"{k}={v}" for k, values in block.items() for v in values) + "\n"
    running = {INPUTS_VARIABLE: keyed}

    def read(key: bytes | None) -> dict:
        return read_units(
            [WORKER],
            FakeSystemctl(show),
            read_environ=lambda pid: running,
            start_time=_never_started,
            key=key,
        )

    assert read(KEY_A)["stale"] == []
    assert read(KEY_A)["inputs_fingerprint"] is None
    # Another key, or none, computes another fingerprint than the one the unit runs with.
    for key in (KEY_B, None):
        result = read(key)
        assert result["stale"] == [WORKER]
        assert "inputs fingerprint differs" in result["units"][WORKER]["stale_reasons"][0]


def test_read_units_keys_the_fingerprint_of_the_inputs_given(tmp_path) -> None:
    inputs = [str(tmp_path / "missing")]
    result = read_units(
        ["airflow-scheduler.service", "airflow-triggerer.service"],
        FakeSystemctl(SHOW),
        inputs=inputs,
        read_environ=lambda pid: {
            INPUTS_VARIABLE: inputs_fingerprint(inputs, KEY_A),
            "GREETING": "hello world",
        },
        start_time=_never_started,
        key=KEY_A,
    )
    assert result["inputs_fingerprint"] == inputs_fingerprint(inputs, KEY_A)
    # The unit's own Environment= sets abc123, which is not compared: only what runs is.
    assert result["stale"] == []


def test_without_comparing_inputs_the_fingerprint_does_not_make_a_unit_stale(
    write: Callable[..., str],
) -> None:
    paths = [write("airflow.cfg", "[core]\n")]
    block = _self_describing(paths, "written-with-a-key-we-do-not-have")
    running = {INPUTS_VARIABLE: "written-with-a-key-we-do-not-have"}
    write("airflow.cfg", "[core]\nparallelism = 1\n")
    judged = unit_state(block, None, lambda pid: running, _never_started, key=KEY_A)
    assert judged["stale"] is True
    state = unit_state(
        block, "fp", lambda pid: running, _never_started, key=None, compare_inputs=False
    )
    assert state["stale"] is False
    assert state["stale_reasons"] == []
    assert state["running_inputs"] == "written-with-a-key-we-do-not-have"
