"""The module entry point: arguments, check mode, warnings, failures."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

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
