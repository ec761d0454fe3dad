"""The module entry point: arguments, check mode, warnings, failures."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from fake_systemd import FakeSystemd, Unit

from ansible_collections.dataops.airflow.plugins.module_utils import config_digest
from ansible_collections.dataops.airflow.plugins.module_utils.units import load_fingerprint_key
from ansible_collections.dataops.airflow.plugins.modules import (
    airflow_config_compare,
    airflow_config_hash,
)

KEY = "k" * 32
CFG = "[core]\nparallelism = 32\nfernet_key = abcdefabcdefabcdef\n"


def run(capsys, **args) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        airflow_config_hash.main()
    return json.loads(capsys.readouterr().out)


def test_success_in_check_mode_returns_hashes_and_no_values(capsys, write) -> None:
    path = write("airflow.cfg", CFG)
    out = run(capsys, path=path, env_files=[], digest_key=KEY, _ansible_check_mode=True)
    assert out["changed"] is False
    assert out.get("failed") is not True
    assert out["config_path"] == path
    assert set(out["scopes"]["config"]["digests"]) == {"core.parallelism", "core.fernet_key"}
    assert out["hashes"]["config"].startswith("hmac-sha256:")
    assert "abcdefabcdefabcdef" not in json.dumps(out)


def test_without_a_key_digests_are_unkeyed_and_the_module_warns(capsys, write, monkeypatch) -> None:
    warned: list[str] = []
    # (where warnings end up depends on what else the test process imported; record them here)
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, msg: warned.append(msg))
    out = run(capsys, path=write("airflow.cfg", CFG), env_files=[])
    assert out["digest_algorithm"] == "sha256"
    assert any("digest_key is not set" in w for w in warned)


def test_unreadable_file_fails_with_reason(capsys, tmp_path) -> None:
    missing = str(tmp_path / "airflow.cfg")
    out = run(capsys, path=missing, env_files=[], digest_key=KEY)
    assert out["failed"] is True
    assert out["msg"] == f"missing: {missing}"
    assert out["reason"] == "missing"


def test_bad_scope_is_refused_by_the_argument_spec(capsys, write) -> None:
    out = run(capsys, path=write("airflow.cfg", CFG), scopes=["logs"], digest_key=KEY)
    assert out["failed"] is True
    assert "scopes" in out["msg"]


def test_short_key_fails_and_is_not_echoed(capsys, write) -> None:
    out = run(capsys, path=write("airflow.cfg", CFG), env_files=[], digest_key="tooshort")
    assert out["failed"] is True
    assert "at least 16" in out["msg"]
    assert "tooshort" not in json.dumps(out)


@pytest.mark.parametrize("module", [airflow_config_hash, airflow_config_compare])
def test_documentation_blocks_are_valid_yaml(module) -> None:
    docs = yaml.safe_load(module.DOCUMENTATION)
    assert docs["module"] == module.__name__.rsplit(".", 1)[-1]
    assert isinstance(yaml.safe_load(module.EXAMPLES), list)
    assert isinstance(yaml.safe_load(module.RETURN), dict)


def test_documented_options_match_the_argument_spec(capsys) -> None:
    documented = set(yaml.safe_load(airflow_config_hash.DOCUMENTATION)["options"])
    out = run(capsys, path="/nonexistent", env_files=[], digest_key=KEY)
    assert documented == set(out["invocation"]["module_args"])


# --- per unit ----------------------------------------------------------------------------------

SECRET = "FernetKeyThatMustNeverShow0123456789abcdef="


@pytest.fixture
def worker_node(write, monkeypatch):
    """A node with one Celery worker unit whose drop-in the running process lacks."""
    env = write("airflow.env", f"AIRFLOW__CORE__FERNET_KEY={SECRET}\n")
    systemd = FakeSystemd({"airflow-celery-worker.service": Unit(files=[env])})
    unit = systemd.units["airflow-celery-worker.service"]
    unit.environment["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = "1"  # drop-in, not restarted
    unit.drop_ins.append("/etc/systemd/system/airflow-celery-worker.service.d/x.conf")
    environs: list[dict] = []

    def run_command(self, args, **kwargs):
        environs.append(kwargs.get("environ_update"))
        return systemd(args)

    read_units = config_digest.read_units

    def fake_proc(units, run, inputs=None, **readers):
        readers.update(read_environ=systemd.read_environ, start_time=systemd.start_time)
        return read_units(units, run, inputs, **readers)

    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(config_digest, "read_units", fake_proc)
    return systemd, environs


def test_unit_pattern_gives_a_scope_per_unit_and_its_state(capsys, write, worker_node) -> None:
    systemd, environs = worker_node
    env_files = systemd.units["airflow-celery-worker.service"].files
    out = run(
        capsys,
        path=write("airflow.cfg", CFG),
        env_files=env_files,
        unit_pattern="airflow-*.service",
        digest_key=KEY,
        _ansible_check_mode=True,
    )
    assert out.get("failed") is not True, out
    assert out["changed"] is False
    # Both: the host-wide scope (airflow.cfg and env_files) and the unit's own.
    assert list(out["scopes"]) == ["config", "config:airflow-celery-worker.service"]
    assert sorted(out["hashes"]) == sorted(out["scopes"])
    assert set(out["scopes"]["config"]["digests"]) == {"core.fernet_key", "core.parallelism"}
    scope = out["scopes"]["config:airflow-celery-worker.service"]
    assert {"core.fernet_key", "core.parallelism", "celery.worker_concurrency"} == set(
        scope["digests"]
    )
    assert out["hashes"]["config"] != out["hashes"]["config:airflow-celery-worker.service"]
    state = out["units"]["airflow-celery-worker.service"]
    assert state["stale"] is True
    assert state["stale_reasons"] == [
        "runs with another environment than its unit sets: AIRFLOW__CELERY__WORKER_CONCURRENCY"
    ]
    assert [call[1] for call in systemd.calls] == ["list-unit-files", "show"]
    assert environs == [{"LC_ALL": "C", "SYSTEMD_COLORS": "0"}] * 2
    assert SECRET not in json.dumps(out)
    assert "abcdefabcdefabcdef" not in json.dumps(out)


def test_explicit_units_not_loaded_fall_back_to_env_files(capsys, write, worker_node) -> None:
    out = run(
        capsys,
        path=write("airflow.cfg", CFG),
        env_files=[],
        units=["airflow-scheduler.service"],
        digest_key=KEY,
    )
    assert out.get("failed") is not True, out
    assert list(out["scopes"]) == ["config"]
    assert out["units"] == {}


def test_systemctl_failure_fails_with_reason(capsys, write, monkeypatch) -> None:
    monkeypatch.setattr(
        AnsibleModule, "run_command", lambda self, args, **kw: (1, "", "Failed to connect to bus")
    )
    out = run(capsys, path=write("airflow.cfg", CFG), unit_pattern="airflow-*", digest_key=KEY)
    assert out["failed"] is True
    assert out["reason"] == "systemctl list-unit-files failed"
    assert "Failed to connect to bus" in out["msg"]


def test_state_dir_is_where_the_start_records_are_read(
    capsys, write, tmp_path, monkeypatch
) -> None:
    """Without a fake reader: the record in state_dir decides what the process runs with."""
    env = write("airflow.env", "AIRFLOW__CORE__PARALLELISM=8\n")
    systemd = FakeSystemd({"airflow-scheduler.service": Unit(files=[env])})
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, args, **kw: systemd(args))
    # (The start time is read from the real /proc, of whatever process has the fake PID, if
    # any: a record written now is never older than that process.)
    cfg = write("airflow.cfg", CFG)
    args = {"path": cfg, "env_files": [], "units": ["airflow-scheduler.service"], "digest_key": KEY}

    state_dir = tmp_path / "state"
    out = run(capsys, state_dir=str(state_dir), **args)
    state = out["units"]["airflow-scheduler.service"]
    assert state["stale"] is True
    assert state["stale_reasons"] == [
        "the environment it was started with is not recorded (started by an older unit file?)"
    ]

    running = systemd.units["airflow-scheduler.service"].running
    state_dir.mkdir()
    record = b"".join(f"{k}={v}\0".encode() for k, v in running.items())
    (state_dir / "airflow-scheduler.service.environ").write_bytes(record)
    out = run(capsys, state_dir=str(state_dir), **args)
    assert out["units"]["airflow-scheduler.service"]["stale"] is False, out["units"]


# --- the fingerprint key ---------------------------------------------------------------------


@pytest.fixture
def keyed_node(write, tmp_path, monkeypatch):
    """A scheduler whose unit carries a fingerprint keyed with the host's key; its lock changed
    after it started (so by fingerprint, and by nothing else, it is stale)."""
    key_file = str(tmp_path / "keys" / "fingerprint.key")
    key = load_fingerprint_key(key_file, create=True)
    lock = write("requirements.lock", "apache-airflow==3.0.6\n")
    env = write("airflow.env", "AIRFLOW__CORE__PARALLELISM=8\n")
    systemd = FakeSystemd(
        {"airflow-scheduler.service": Unit(files=[env], inputs=[lock, env], key=key)}
    )
    write("requirements.lock", "apache-airflow==3.1.0\n")
    read_units = config_digest.read_units

    def fake_proc(units, run, inputs=None, **readers):
        readers.update(read_environ=systemd.read_environ, start_time=systemd.start_time)
        return read_units(units, run, inputs, **readers)

    warned: list[str] = []
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, args, **kw: systemd(args))
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, msg: warned.append(msg))
    monkeypatch.setattr(config_digest, "read_units", fake_proc)
    args = {
        "path": write("airflow.cfg", CFG),
        "env_files": [],
        "units": ["airflow-scheduler.service"],
        "digest_key": KEY,
    }
    return {"key_file": key_file, "args": args, "warned": warned, "systemd": systemd}


def test_the_fingerprint_key_judges_staleness_and_is_never_created(
    capsys, keyed_node, default_key_file
) -> None:
    out = run(capsys, fingerprint_key_file=keyed_node["key_file"], **keyed_node["args"])
    assert out.get("failed") is not True, out
    state = out["units"]["airflow-scheduler.service"]
    assert state["stale"] is True
    assert state["stale_reasons"] == [
        "started before its configuration or packages changed (inputs fingerprint differs)"
    ]
    assert not any("fingerprint key" in w for w in keyed_node["warned"])
    # The read-only module never creates the key file, by default or when told its path.
    run(capsys, **keyed_node["args"])
    assert not default_key_file.exists()
    assert not default_key_file.parent.exists()


def test_a_missing_key_warns_and_does_not_make_units_stale_by_fingerprint(
    capsys, keyed_node, tmp_path
) -> None:
    missing = tmp_path / "none" / "fingerprint.key"
    out = run(capsys, fingerprint_key_file=str(missing), **keyed_node["args"])
    assert out.get("failed") is not True, out
    state = out["units"]["airflow-scheduler.service"]
    assert state["stale"] is False, state
    assert state["stale_reasons"] == []
    assert any(
        w.startswith("no fingerprint key on this host")
        and "staleness judged from the environment only" in w
        for w in keyed_node["warned"]
    ), keyed_node["warned"]
    assert not missing.exists()
    # Staleness by environment is still judged.
    unit = keyed_node["systemd"].units["airflow-scheduler.service"]
    unit.environment["AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT"] = "60"
    out = run(capsys, fingerprint_key_file=str(missing), **keyed_node["args"])
    assert out["units"]["airflow-scheduler.service"]["stale_reasons"] == [
        "runs with another environment than its unit sets: AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT"
    ]


def test_a_symlinked_key_file_fails_the_module_naming_it(capsys, keyed_node, tmp_path) -> None:
    link = tmp_path / "link.key"
    link.symlink_to(keyed_node["key_file"])
    out = run(capsys, fingerprint_key_file=str(link), **keyed_node["args"])
    assert out["failed"] is True
    assert out["failed_path"] == str(link)
    assert "symbolic link" in out["reason"]
