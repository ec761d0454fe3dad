"""The airflow_units module: arguments, inputs per unit, fingerprints and the start records."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from fake_systemd import FakeSystemd, Unit

from ansible_collections.dataops.airflow.plugins.module_utils.units import (
    inputs_fingerprint,
    load_fingerprint_key,
)
from ansible_collections.dataops.airflow.plugins.modules import airflow_units

FINGERPRINT_KEY_FILE = "/var/lib/dataops-airflow/fingerprint.key"
SCHEDULER = "airflow-scheduler.service"
WORKER = "airflow-celery-worker.service"


def run(capsys, **args) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        airflow_units.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def node(write, tmp_path: Path, monkeypatch):
    """A master's scheduler and a worker, each reading its own files; their start records.

    The units were written with the fingerprints keyed with the host's key (``key_file``).
    """
    cfg = write("airflow.cfg", "[core]\nparallelism = 32\n")
    secrets = write("secrets.env", "AIRFLOW__CORE__FERNET_KEY=NeverShown\n")
    broker = write("worker-secrets.env", "AIRFLOW__CELERY__BROKER_URL=redis://h/0\n")
    key_file = str(tmp_path / "keys" / "fingerprint.key")
    key = load_fingerprint_key(key_file, create=True)
    systemd = FakeSystemd(
        {
            SCHEDULER: Unit(files=[secrets], inputs=[cfg, secrets], key=key),
            WORKER: Unit(files=[broker], inputs=[cfg, broker], key=key),
        }
    )
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    for name, unit in systemd.units.items():
        record = b"".join(f"{k}={v}".encode() + b"\0" for k, v in unit.running.items())
        (state_dir / f"{name}.environ").write_bytes(record)
    calls: list[list[str]] = []

    def run_command(self, args, **kwargs):
        calls.append(list(args))
        return systemd(args)

    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    return {
        "systemd": systemd,
        "state_dir": str(state_dir),
        "calls": calls,
        "inputs": {SCHEDULER: [cfg, secrets], WORKER: [cfg, broker]},
        "key_file": key_file,
        "key": key,
    }


def test_documentation_is_valid_yaml_and_matches_the_argument_spec(capsys, node) -> None:
    docs = yaml.safe_load(airflow_units.DOCUMENTATION)
    assert docs["module"] == "airflow_units"
    assert docs["options"]["state_dir"]["default"] == "/run/dataops-airflow"
    assert docs["options"]["inputs_by_unit"]["default"] == {}
    assert docs["options"]["fingerprint_key_file"]["default"] == FINGERPRINT_KEY_FILE
    assert isinstance(yaml.safe_load(airflow_units.EXAMPLES), list)
    assert "fingerprints" in yaml.safe_load(airflow_units.RETURN)
    out = run(
        capsys,
        units=[SCHEDULER],
        state_dir=node["state_dir"],
        fingerprint_key_file=node["key_file"],
    )
    assert set(docs["options"]) == set(out["invocation"]["module_args"])
    assert out["invocation"]["module_args"]["inputs_by_unit"] == {}


def test_inputs_by_unit_gives_each_unit_its_fingerprint(capsys, node) -> None:
    inputs = node["inputs"]
    out = run(
        capsys,
        units=[SCHEDULER, WORKER],
        inputs_by_unit=inputs,
        state_dir=node["state_dir"],
        fingerprint_key_file=node["key_file"],
        _ansible_check_mode=True,
    )
    assert out.get("failed") is not True, out
    assert out["changed"] is False
    key = node["key"]
    assert out["fingerprints"] == {unit: inputs_fingerprint(inputs[unit], key) for unit in inputs}
    assert out["inputs_fingerprint"] is None
    assert out["stale"] == []
    assert list(out["units"]) == [SCHEDULER, WORKER]
    # One systemctl show per distinct list of inputs.
    assert [call[1] for call in node["calls"]] == ["show", "show"]
    assert "NeverShown" not in json.dumps(out)


def test_inputs_cover_the_units_inputs_by_unit_does_not_name(capsys, node) -> None:
    inputs = node["inputs"]
    out = run(
        capsys,
        units=[SCHEDULER, WORKER],
        inputs=inputs[SCHEDULER],
        inputs_by_unit={WORKER: inputs[WORKER]},
        state_dir=node["state_dir"],
        fingerprint_key_file=node["key_file"],
    )
    key = node["key"]
    assert out["inputs_fingerprint"] == inputs_fingerprint(inputs[SCHEDULER], key)
    assert out["fingerprints"] == {unit: inputs_fingerprint(inputs[unit], key) for unit in inputs}
    # The worker's inputs as the scheduler's: its running fingerprint no longer matches.
    wrong = run(
        capsys,
        units=[WORKER],
        inputs=inputs[SCHEDULER],
        state_dir=node["state_dir"],
        fingerprint_key_file=node["key_file"],
    )
    assert wrong["stale"] == [WORKER]
    assert "inputs fingerprint differs" in wrong["units"][WORKER]["stale_reasons"][0]


def test_without_inputs_each_unit_describes_its_own_and_fingerprints_are_null(capsys, node) -> None:
    out = run(
        capsys,
        units=[SCHEDULER, WORKER],
        state_dir=node["state_dir"],
        fingerprint_key_file=node["key_file"],
    )
    assert out["fingerprints"] == {SCHEDULER: None, WORKER: None}
    assert out["stale"] == []


def test_a_changed_input_makes_the_unit_stale(capsys, node) -> None:
    Path(node["inputs"][WORKER][1]).write_text("AIRFLOW__CELERY__BROKER_URL=redis://other/0\n")
    out = run(
        capsys,
        units=[SCHEDULER, WORKER],
        inputs_by_unit=node["inputs"],
        state_dir=node["state_dir"],
        fingerprint_key_file=node["key_file"],
    )
    assert out["stale"] == [WORKER]
    reasons = out["units"][WORKER]["stale_reasons"]
    assert any("inputs fingerprint differs" in reason for reason in reasons)
    assert any("AIRFLOW__CELERY__BROKER_URL" in reason for reason in reasons)
    assert "redis://" not in json.dumps(out)


def test_units_without_a_start_record_in_state_dir_are_stale(capsys, node, tmp_path) -> None:
    out = run(capsys, units=[SCHEDULER, WORKER], state_dir=str(tmp_path / "empty"))
    assert out["stale"] == sorted([SCHEDULER, WORKER])
    assert out["units"][SCHEDULER]["stale_reasons"] == [
        "the environment it was started with is not recorded (started by an older unit file?)"
    ]


def test_inputs_by_unit_needs_lists(capsys, node) -> None:
    out = run(capsys, units=[WORKER], inputs_by_unit={WORKER: "/etc/airflow/airflow.cfg"})
    assert out["failed"] is True
    assert out["msg"] == f"inputs_by_unit: the value for {WORKER} must be a list of paths"


def test_systemctl_failure_fails(capsys, monkeypatch) -> None:
    monkeypatch.setattr(
        AnsibleModule, "run_command", lambda self, args, **kw: (1, "", "Failed to connect to bus")
    )
    out = run(capsys, units=[WORKER])
    assert out["failed"] is True
    assert "systemctl show failed" in out["msg"]


# --- the fingerprint key ---------------------------------------------------------------------


def test_fingerprints_are_keyed_with_the_hosts_key_not_plain(capsys, node) -> None:
    inputs = node["inputs"]
    out = run(
        capsys,
        units=[SCHEDULER],
        inputs=inputs[SCHEDULER],
        state_dir=node["state_dir"],
        fingerprint_key_file=node["key_file"],
    )
    assert out["inputs_fingerprint"] == inputs_fingerprint(inputs[SCHEDULER], node["key"])
    assert out["inputs_fingerprint"] != inputs_fingerprint(inputs[SCHEDULER])
    # The key itself is never returned.
    assert node["key"].hex() not in json.dumps(out)


def test_a_missing_key_file_is_created_root_only_and_reused(capsys, node, tmp_path) -> None:
    key_file = tmp_path / "new" / "dataops-airflow" / "fingerprint.key"
    args = {"units": [SCHEDULER], "inputs": node["inputs"][SCHEDULER]}
    first = run(capsys, state_dir=node["state_dir"], fingerprint_key_file=str(key_file), **args)
    assert first.get("failed") is not True, first
    # Bookkeeping, not drift.
    assert first["changed"] is False
    info = key_file.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.geteuid()
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert len(key_file.read_text().strip()) == 64
    # Written with another key than this one, so the running scheduler is stale.
    assert first["stale"] == [SCHEDULER]
    key = bytes.fromhex(key_file.read_text())
    assert first["inputs_fingerprint"] == inputs_fingerprint(node["inputs"][SCHEDULER], key)
    again = run(capsys, state_dir=node["state_dir"], fingerprint_key_file=str(key_file), **args)
    assert again["inputs_fingerprint"] == first["inputs_fingerprint"]
    # Only the key is left in the directory (no temporary file).
    assert os.listdir(key_file.parent) == ["fingerprint.key"]


def test_check_mode_does_not_create_the_key_file(capsys, node, tmp_path) -> None:
    key_file = tmp_path / "new" / "fingerprint.key"
    out = run(
        capsys,
        units=[SCHEDULER, WORKER],
        inputs_by_unit=node["inputs"],
        state_dir=node["state_dir"],
        fingerprint_key_file=str(key_file),
        _ansible_check_mode=True,
    )
    assert out.get("failed") is not True, out
    assert out["changed"] is False
    assert not key_file.exists()
    assert not key_file.parent.exists()
    # A random key for this run only: every unit counts as stale, as on a first run.
    assert out["stale"] == sorted([SCHEDULER, WORKER])
    assert out["fingerprints"][SCHEDULER] != inputs_fingerprint(node["inputs"][SCHEDULER])


def test_the_default_key_file_is_created_when_not_given(capsys, node, default_key_file) -> None:
    out = run(capsys, units=[SCHEDULER], state_dir=node["state_dir"])
    assert out.get("failed") is not True, out
    assert out["invocation"]["module_args"]["fingerprint_key_file"] == str(default_key_file)
    assert stat.S_IMODE(default_key_file.stat().st_mode) == 0o600


def test_a_key_file_others_can_read_fails_the_module(capsys, node) -> None:
    os.chmod(node["key_file"], 0o644)
    out = run(
        capsys,
        units=[SCHEDULER],
        state_dir=node["state_dir"],
        fingerprint_key_file=node["key_file"],
    )
    assert out["failed"] is True
    assert out["changed"] is False
    assert "accessible to group or others" in out["msg"]
    assert node["key"].hex() not in json.dumps(out)
