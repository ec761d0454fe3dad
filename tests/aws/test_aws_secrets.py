"""airflow_config_aws_secrets against moto: secrets read from SSM Parameter Store and Secrets
Manager become the role's variables, never printed; a secret that cannot be read, or a bad
entry, stops the run naming the variable and the parameter."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

PLAYBOOK = Path(__file__).with_name("aws_secrets.yml")
FERNET = "x" * 43 + "="
DB_PASSWORD = "db-Pa55-from-secrets-manager"
REDIS_PASSWORD = "redis-auth-from-ssm-0123456789"
ADMIN_PASSWORD = "admin-plain-secret-2024"


@pytest.fixture(scope="module")
def stored(moto_endpoint: str) -> None:
    ssm = boto3.client("ssm", endpoint_url=moto_endpoint)
    ssm.put_parameter(Name="/dataops/test/fernet_key", Value=FERNET, Type="SecureString")
    ssm.put_parameter(Name="/dataops/test/redis", Value=REDIS_PASSWORD, Type="SecureString")
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint)
    secrets.create_secret(
        Name="dataops/test/rds",
        SecretString=json.dumps({"username": "airflow", "password": DB_PASSWORD}),
    )
    secrets.create_secret(Name="dataops/test/admin", SecretString=ADMIN_PASSWORD)


def run(endpoint: str, tmp_path: Path, sources: dict[str, Any]) -> tuple[int, str, dict[str, str]]:
    out = tmp_path / "values.json"
    extra = {"airflow_config_aws_secrets": sources, "out": str(out)}
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(extra))
    result = subprocess.run(
        ["ansible-playbook", "-vvv", "-e", f"@{extra_file}", str(PLAYBOOK)],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_URL": endpoint, "ANSIBLE_FORCE_COLOR": "0"},
        timeout=300,
        check=False,
    )
    values = json.loads(out.read_text()) if out.exists() else {}
    return result.returncode, " ".join((result.stdout + result.stderr).split()), values


def test_secrets_are_read_from_ssm_and_secrets_manager_and_never_printed(
    stored: None, moto_endpoint: str, tmp_path: Path
) -> None:
    rc, output, values = run(
        moto_endpoint,
        tmp_path,
        {
            "airflow_config_fernet_key": {"ssm": "/dataops/test/fernet_key"},
            "airflow_config_redis_password": {"ssm": "/dataops/test/redis"},
            "airflow_config_db_password": {"secretsmanager": "dataops/test/rds", "key": "password"},
            "airflow_config_admin_password": {"secretsmanager": "dataops/test/admin"},
        },
    )
    assert rc == 0, output[-3000:]
    assert values == {
        "airflow_config_fernet_key": FERNET,
        "airflow_config_redis_password": REDIS_PASSWORD,
        "airflow_config_db_password": DB_PASSWORD,
        "airflow_config_admin_password": ADMIN_PASSWORD,
    }
    for secret in (FERNET, REDIS_PASSWORD, DB_PASSWORD, ADMIN_PASSWORD):
        assert secret not in output, f"{secret[:4]}... is in the -vvv output"


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ({"ssm": "/dataops/test/missing"}, "SSM parameter /dataops/test/missing"),
        ({"secretsmanager": "dataops/test/gone"}, "Secrets Manager secret dataops/test/gone"),
        (
            {"secretsmanager": "dataops/test/rds", "key": "pasword"},
            "Secrets Manager secret dataops/test/rds, key pasword",
        ),
    ],
)
def test_a_secret_that_cannot_be_read_stops_the_run_naming_it(
    stored: None, moto_endpoint: str, tmp_path: Path, source: dict[str, str], named: str
) -> None:
    rc, output, values = run(
        moto_endpoint,
        tmp_path,
        {
            "airflow_config_fernet_key": {"ssm": "/dataops/test/fernet_key"},
            "airflow_config_db_password": source,
        },
    )
    assert rc != 0 and not values
    assert f"could not read airflow_config_db_password ({named})" in output, output[-3000:]
    assert FERNET not in output and DB_PASSWORD not in output


@pytest.mark.parametrize(
    "sources",
    [
        {"airflow_config_db_host": {"ssm": "/dataops/test/redis"}},
        {"airflow_config_db_password": {"ssm": "/a", "secretsmanager": "b"}},
        {"airflow_config_db_password": {"ssm": "name with spaces"}},
        {"airflow_config_db_password": "/dataops/test/redis"},
    ],
)
def test_bad_entries_are_refused_before_anything_is_read(
    stored: None, moto_endpoint: str, tmp_path: Path, sources: dict[str, Any]
) -> None:
    rc, output, values = run(moto_endpoint, tmp_path, sources)
    name = next(iter(sources))
    assert rc != 0 and not values
    assert f"airflow_config_aws_secrets: {name}: each key must be one of" in output, output[-3000:]
    assert "TASK [dataops.airflow.airflow_config : Read the secrets from SSM" not in output
