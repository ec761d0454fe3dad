"""Keyed digests and canonical scope hashes: config, packages, DAG files."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from sample_data import SAMPLE_CFG

from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import ReadError
from ansible_collections.dataops.airflow.plugins.module_utils.config_digest import (
    Digester,
    collect,
    dags_scope,
    packages_scope,
    split_excludes,
)

KEY = "k" * 32


def config_result(write, cfg: str, env: str = "", key: str | None = KEY, **kwargs) -> dict:
    path = write("etc/airflow.cfg", cfg)
    env_file = write("etc/airflow.env", env)
    return collect(["config"], path, env_file, digest_key=key, **kwargs)


def make_venv(root: Path, packages: dict[str, str], python: str = "python3.11") -> str:
    site = root / "lib" / python / "site-packages"
    for name, version in packages.items():
        meta = site / f"{name.replace('-', '_')}-{version}.dist-info"
        meta.mkdir(parents=True)
        (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (root / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.2\n")
    return str(root)


# --- digests ---------------------------------------------------------------------------------


def test_digest_is_hmac_sha256_of_kind_and_value() -> None:
    expected = hmac.new(KEY.encode(), b"value\x00abc", hashlib.sha256).hexdigest()
    assert Digester(KEY).item("value", "abc") == expected
    assert Digester(KEY).algorithm == "hmac-sha256"


def test_digests_depend_on_the_key_and_without_key_are_plain_sha256() -> None:
    assert Digester(KEY).item("value", "x") != Digester("z" * 32).item("value", "x")
    assert Digester().item("value", "x") == hashlib.sha256(b"value\x00x").hexdigest()
    assert Digester().algorithm == "sha256"
    assert Digester().key_id is None


def test_key_id_identifies_the_key_without_revealing_it() -> None:
    one, same, other = Digester(KEY), Digester(KEY), Digester("z" * 32)
    assert one.key_id == same.key_id != other.key_id
    assert KEY not in one.key_id and len(one.key_id) == 16


def test_short_keys_are_refused() -> None:
    # Ansible masks no_log values wherever they appear in output: a short key would mangle digests.
    with pytest.raises(ValueError, match="at least 16"):
        Digester("short")


def test_kind_is_part_of_the_digest() -> None:
    assert Digester(KEY).item("value", "cat /k") != Digester(KEY).item("command", "cat /k")


def test_scope_hash_ignores_order_and_changes_with_any_digest() -> None:
    d = Digester(KEY)
    a = d.scope_hash({"a": "1", "b": "2"})
    assert a == d.scope_hash({"b": "2", "a": "1"})
    assert a != d.scope_hash({"a": "1", "b": "3"})
    assert a.startswith("hmac-sha256:")


# --- config scope ----------------------------------------------------------------------------


def test_values_never_appear_in_the_result(write) -> None:
    result = config_result(
        write, SAMPLE_CFG, "AIRFLOW__CORE__SQL_ALCHEMY_CONN=postgresql://a:pw1@db/x\n"
    )
    text = json.dumps(result)
    for secret in ("s3cret", "pw1", "7fQf0fX1L0w2yE4h6JkQ9mN3pR5tV8xZ1aB4cD6eF0g=", "redis:"):
        assert secret not in text
    config = result["scopes"]["config"]
    assert config["sensitive"] == ["celery.broker_url", "core.fernet_key", "core.sql_alchemy_conn"]
    assert config["from_env"] == ["core.sql_alchemy_conn"]


def test_formatting_does_not_change_the_hash_but_a_value_does(write, tmp_path) -> None:
    reference = config_result(write, SAMPLE_CFG)
    crlf = config_result(
        write, "# edited\r\n" + SAMPLE_CFG.replace("\n", "\r\n").replace(" = ", "=")
    )
    assert crlf["hashes"] == reference["hashes"]
    drift = config_result(
        write, SAMPLE_CFG.replace("worker_concurrency = 16", "worker_concurrency = 12")
    )
    assert drift["hashes"] != reference["hashes"]
    changed = {
        k
        for k, v in drift["scopes"]["config"]["digests"].items()
        if reference["scopes"]["config"]["digests"][k] != v
    }
    assert changed == {"celery.worker_concurrency"}


def test_env_override_that_matches_the_file_changes_nothing(write) -> None:
    plain = config_result(write, SAMPLE_CFG)
    same = config_result(write, SAMPLE_CFG, 'AIRFLOW__CORE__PARALLELISM="32"\n')
    assert same["hashes"] == plain["hashes"]
    other = config_result(write, SAMPLE_CFG, "AIRFLOW__CORE__PARALLELISM=64\n")
    assert other["hashes"] != plain["hashes"]


def test_exclude_patterns_leave_keys_out(write) -> None:
    full = config_result(write, SAMPLE_CFG)
    trimmed = config_result(write, SAMPLE_CFG, exclude=["celery.*"])
    config = trimmed["scopes"]["config"]
    assert set(config["digests"]) == {"core.parallelism", "core.fernet_key"}
    assert config["excluded"] == ["celery.broker_url", "celery.worker_concurrency"]
    assert trimmed["hashes"] != full["hashes"]
    drift = config_result(write, SAMPLE_CFG.replace("= 16", "= 4"), exclude=["celery.*"])
    assert drift["hashes"] == trimmed["hashes"]


def test_split_excludes_by_scope_prefix() -> None:
    assert split_excludes(["core.x", "dags:*.md", "packages:pip", "env:AIRFLOW_HOME"]) == {
        "config": ["core.x", "env:AIRFLOW_HOME"],
        "packages": ["pip"],
        "dags": ["*.md"],
    }


def test_warnings_name_ignored_variables_and_a_config_the_units_do_not_read(write) -> None:
    env = "AIRFLOW_CONFIG=/elsewhere/airflow.cfg\nairflow__core__x=1\n1BAD=2\n"
    result = config_result(write, SAMPLE_CFG, env)
    text = " ".join(result["warnings"])
    assert "airflow__core__x" in text and "1BAD" in text and "/elsewhere/airflow.cfg" in text
    assert "env:AIRFLOW_CONFIG" in result["scopes"]["config"]["digests"]


def test_missing_env_file_fails_and_empty_env_file_option_skips_it(write, tmp_path) -> None:
    path = write("etc/airflow.cfg", SAMPLE_CFG)
    with pytest.raises(ReadError, match="missing"):
        collect(["config"], path, str(tmp_path / "none.env"), digest_key=KEY)
    assert collect(["config"], path, None, digest_key=KEY)["scopes"]["config"]["count"] == 4


def test_bad_scope_or_key_name_is_refused(write) -> None:
    path = write("etc/airflow.cfg", SAMPLE_CFG)
    with pytest.raises(ValueError, match="scopes"):
        collect(["config", "logs"], path)
    with pytest.raises(ValueError, match="sensitive_keys"):
        collect(["config"], path, sensitive_keys=["nodot"])


# --- packages scope --------------------------------------------------------------------------


def test_packages_by_normalised_name_and_version(tmp_path) -> None:
    venv = make_venv(tmp_path / "venv", {"apache-airflow": "3.1.2", "Flask_Login": "0.6.3"})
    egg = tmp_path / "venv/lib/python3.11/site-packages/legacy_thing-1.0-py3.11.egg-info"
    egg.write_text("Metadata-Version: 1.0\nName: Legacy.Thing\nVersion: 1.0\n")
    items = packages_scope(venv).items
    assert items["apache-airflow"] == ("version", "3.1.2")
    assert items["flask-login"] == ("version", "0.6.3")
    assert items["legacy-thing"] == ("version", "1.0")
    assert items["python:version"] == ("version", "3.11.2")
    assert items["python:site-packages"] == ("layout", "python3.11")


def test_package_version_drift_and_leftover_metadata_show(tmp_path) -> None:
    one = packages_scope(make_venv(tmp_path / "a", {"celery": "5.5.3"})).items
    two = packages_scope(make_venv(tmp_path / "b", {"celery": "5.5.2"})).items
    assert one["celery"] != two["celery"]
    # a second dist-info for the same project (a broken upgrade) is visible too
    extra = tmp_path / "b/lib/python3.11/site-packages/celery-5.5.3.dist-info"
    extra.mkdir()
    (extra / "METADATA").write_text("Name: celery\nVersion: 5.5.3\n")
    assert packages_scope(str(tmp_path / "b")).items["celery"] == ("version", "5.5.2,5.5.3")


def test_missing_or_empty_venv_fails(tmp_path) -> None:
    with pytest.raises(ReadError, match="missing"):
        packages_scope(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReadError, match="not a virtualenv"):
        packages_scope(str(tmp_path / "empty"))


# --- dags scope ------------------------------------------------------------------------------


def test_dag_files_hashed_and_noise_skipped(tmp_path) -> None:
    dags = tmp_path / "dags"
    (dags / "team").mkdir(parents=True)
    (dags / "etl.py").write_text("dag = 1\n")
    (dags / "team" / "report.py").write_text("dag = 2\n")
    (dags / ".airflowignore").write_text("scratch/\n")
    for noise in ("__pycache__/etl.cpython-311.pyc", ".git/HEAD", "team/old.pyc"):
        (dags / noise).parent.mkdir(parents=True, exist_ok=True)
        (dags / noise).write_text("noise")
    items = dags_scope(str(dags)).items
    assert sorted(items) == [".airflowignore", "etl.py", "team/report.py"]
    assert items["etl.py"] == ("sha256", hashlib.sha256(b"dag = 1\n").hexdigest())


def test_dag_symlinks_loops_and_dangling_links_handled(tmp_path) -> None:
    dags = tmp_path / "dags"
    (dags / "sub").mkdir(parents=True)
    (dags / "sub" / "common.py").write_text("x = 1\n")
    os.symlink(dags, dags / "loop")
    os.symlink(dags / "gone.py", dags / "dangling.py")
    os.symlink("cycle.py", dags / "cycle.py")
    # Outside the folder: a link's text only, whether its target exists or not (no oracle).
    os.symlink(tmp_path / "gone.py", dags / "away.py")
    items = dags_scope(str(dags)).items
    assert items["sub/common.py"][0] == "sha256"
    assert items["dangling.py"] == ("dangling-link", str(dags / "gone.py"))
    assert items["cycle.py"] == ("dangling-link", "cycle.py")
    assert items["away.py"] == ("link-outside-folder", str(tmp_path / "gone.py"))
    assert not any(name.startswith("loop/") for name in items)


# --- dags scope: what must neither hang, crash nor be read ------------------------------------

TIMEOUT = 10.0


def dags_items_in_time(folder: Path, **kwargs: Any) -> dict[str, tuple[str, str]]:
    """dags_scope in a daemon thread: a blocking open() or an endless read fails, not hangs."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["items"] = dags_scope(str(folder), **kwargs).items
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    if thread.is_alive():
        pytest.fail(f"dags_scope did not return within {TIMEOUT} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["items"]


def test_fifo_in_dag_folder_is_reported_not_opened(tmp_path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "a.py").write_text("a\n")
    os.mkfifo(dags / "pipe")
    items = dags_items_in_time(dags)
    assert items["pipe"] == ("fifo", "")
    assert items["a.py"][0] == "sha256"


def test_link_to_dev_zero_is_not_read(tmp_path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    os.symlink("/dev/zero", dags / "zero.py")
    assert dags_items_in_time(dags)["zero.py"] == ("link-outside-folder", "/dev/zero")


def test_device_node_in_dag_folder_is_reported_not_read(tmp_path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    zero = os.stat("/dev/zero").st_rdev
    try:
        os.mknod(dags / "zero", stat.S_IFCHR | 0o600, zero)
    except OSError as exc:  # not root, or no CAP_MKNOD in this container
        pytest.skip(f"cannot create a device node: {exc}")
    assert dags_items_in_time(dags)["zero"] == ("device", "")


def test_unix_socket_in_dag_folder_is_reported(tmp_path, monkeypatch) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    monkeypatch.chdir(dags)  # a relative name: socket paths are limited to about 100 bytes
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("agent.sock")
        assert dags_items_in_time(dags)["agent.sock"] == ("socket", "")


def test_link_to_a_file_outside_the_folder_is_not_read(tmp_path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secret:19000:0:99999:7:::\n")
    dags = tmp_path / "dags"
    dags.mkdir()
    os.symlink(secret, dags / "leak.py")
    kind, value = dags_items_in_time(dags)["leak.py"]
    assert (kind, value) == ("link-outside-folder", str(secret))
    assert value != hashlib.sha256(secret.read_bytes()).hexdigest()


def test_links_inside_the_folder_are_followed_and_outside_directories_not_walked(
    tmp_path,
) -> None:
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0::/root:/bin/bash\n")
    dags = tmp_path / "dags"
    (dags / "team").mkdir(parents=True)
    (dags / "team" / "etl.py").write_text("dag = 1\n")
    os.symlink("team/etl.py", dags / "alias.py")
    # git-sync's layout: the hidden worktree is skipped, the link to it is walked.
    (dags / ".worktrees" / "rev1").mkdir(parents=True)
    (dags / ".worktrees" / "rev1" / "report.py").write_text("dag = 2\n")
    os.symlink(".worktrees/rev1", dags / "current")
    os.symlink(outside, dags / "etc")
    items = dags_items_in_time(dags)
    expected = ("sha256", hashlib.sha256(b"dag = 1\n").hexdigest())
    assert items["alias.py"] == items["team/etl.py"] == expected
    assert items["current/report.py"] == ("sha256", hashlib.sha256(b"dag = 2\n").hexdigest())
    assert items["etc"] == ("link-outside-folder", str(outside))
    assert not any(name.startswith("etc/") for name in items)


def test_file_over_the_size_cap_is_reported_by_size_not_read(tmp_path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "small.py").write_bytes(b"1234")
    (dags / "dump.csv").write_bytes(b"x" * 10)
    (dags / "other.csv").write_bytes(b"x" * 11)
    items = dags_items_in_time(dags, max_size=4)
    assert items["small.py"] == ("sha256", hashlib.sha256(b"1234").hexdigest())
    assert items["dump.csv"] == ("too-large", "10")
    assert items["other.csv"] == ("too-large", "11")


def test_opened_file_is_checked_on_the_descriptor(tmp_path) -> None:
    # The check-to-open race: what is there when opened counts, and a link there is refused.
    from ansible_collections.dataops.airflow.plugins.module_utils import config_digest

    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path / "pipe", tmp_path / "link")
    opened = {}

    def target() -> None:
        opened["fifo"] = config_digest._regular_file_item(str(tmp_path / "pipe"), 100)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "open() blocked on a FIFO"
    assert opened["fifo"] == ("fifo", "")
    with pytest.raises(ReadError, match="cannot be read"):
        config_digest._regular_file_item(str(tmp_path / "link"), 100)


def test_collect_all_scopes_end_to_end(write, tmp_path) -> None:
    path = write("etc/airflow.cfg", SAMPLE_CFG)
    venv = make_venv(tmp_path / "venv", {"apache-airflow": "3.1.2"})
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "a.py").write_text("a\n")
    result = collect(
        ["config", "packages", "dags", "config"],
        path,
        None,
        venv=venv,
        dags_folder=str(dags),
        digest_key=KEY,
        exclude=["packages:python:*"],
    )
    assert list(result["hashes"]) == ["config", "packages", "dags"]
    assert result["scopes"]["packages"]["excluded"] == ["python:site-packages", "python:version"]
    assert result["scopes"]["dags"]["count"] == 1
    assert result["digest_algorithm"] == "hmac-sha256"
    assert result["digest_key_id"] == Digester(KEY).key_id


# --- several environment files (airflow.env, then secrets.env) ---------------------------------


def test_later_environment_file_wins_like_systemd(write) -> None:
    path = write("etc/airflow.cfg", SAMPLE_CFG)
    first = write("etc/airflow.env", "AIRFLOW__CORE__PARALLELISM=8\n")
    second = write("etc/secrets.env", "AIRFLOW__CORE__PARALLELISM='4'\n")
    both = collect(["config"], path, [first, second], digest_key=KEY)
    only_second = collect(["config"], path, [second], digest_key=KEY)
    only_first = collect(["config"], path, [first], digest_key=KEY)
    digest = "core.parallelism"
    assert (
        both["scopes"]["config"]["digests"][digest]
        == only_second["scopes"]["config"]["digests"][digest]
    )
    assert (
        both["scopes"]["config"]["digests"][digest]
        != only_first["scopes"]["config"]["digests"][digest]
    )


def test_empty_environment_file_names_are_skipped(write) -> None:
    path = write("etc/airflow.cfg", SAMPLE_CFG)
    assert (
        collect(["config"], path, ["", ""], digest_key=KEY)["hashes"]["config"]
        == collect(["config"], path, [], digest_key=KEY)["hashes"]["config"]
    )
