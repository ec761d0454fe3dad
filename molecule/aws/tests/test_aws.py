"""The EC2 scenario: the shipped inventory finds the moto instances, site.yml reached them over
SSH at their private addresses, the secrets came from moto's SSM Parameter Store and Secrets
Manager, and task logs go to moto's S3 and come back through the Airflow API."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
from typing import Any

import boto3
from airflow_helpers import Api, wait_for
from test_cluster import _encoded_forms, _run_smoke_dag

PROJECT = os.environ["MOLECULE_PROJECT_DIRECTORY"]
INVENTORY = os.path.join(PROJECT, "inventories", "aws", "airflow.aws_ec2.yml")
BUCKET = "example-airflow-logs"
ADDRESSES = {
    "aws-master1": "172.30.42.11",
    "aws-worker1": "172.30.42.21",
    "aws-monitor1": "172.30.42.31",
}
DAG_ID = "dataops_smoke"


def _log() -> str:
    path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.log")
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _plain(value: Any) -> Any:
    """A value of `ansible-inventory --list`, which wraps strings from AWS as unsafe."""
    return value["__ansible_unsafe"] if isinstance(value, dict) else value


def _inventory(*args: str) -> str:
    run = subprocess.run(
        ["ansible-inventory", "-i", INVENTORY, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"},
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_the_inventory_finds_the_cluster_and_leaves_the_decoys_out() -> None:
    listing = json.loads(_inventory("--list"))
    assert set(listing["masters"]["hosts"]) == {"aws-master1"}
    assert set(listing["workers"]["hosts"]) == {"aws-worker1"}
    assert set(listing["monitoring"]["hosts"]) == {"aws-monitor1"}
    hostvars = listing["_meta"]["hostvars"]
    assert set(hostvars) == set(ADDRESSES), f"decoys listed: {sorted(hostvars)}"
    assert {name: _plain(v["ansible_host"]) for name, v in hostvars.items()} == ADDRESSES


def test_site_yml_went_over_ssh_to_the_private_addresses_as_the_ami_user() -> None:
    log = _log()
    for address in ADDRESSES.values():
        assert f"<{address}> ESTABLISH SSH CONNECTION FOR USER: admin" in log, (
            f"no SSH connection to {address} as admin in the log"
        )


def test_secrets_come_from_ssm_and_secrets_manager(
    master: Any, worker: Any, inventory_vars: dict[str, Any]
) -> None:
    env = master.check_output("cat /etc/airflow/secrets.env")
    wanted = {
        "AIRFLOW__CORE__FERNET_KEY": inventory_vars["molecule_aws_fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": inventory_vars["molecule_aws_jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": inventory_vars["molecule_aws_api_secret_key"],
    }
    for name, value in wanted.items():
        assert f"{name}='{value}'" in env, f"{name} is not the value kept in SSM"
    # the database password from Secrets Manager, the Redis one from SSM
    assert urllib.parse.quote(inventory_vars["airflow_config_db_password"], safe="") in env
    broker = worker.check_output("cat /etc/airflow/worker-secrets.env")
    assert inventory_vars["airflow_config_redis_password"] in broker


def test_a_task_log_is_written_to_s3_and_shown_through_the_api(api: Api, worker: Any) -> None:
    run_id = _run_smoke_dag(api)

    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_URL"], region_name="eu-west-1")

    def stored() -> list[str]:
        listing = s3.list_objects_v2(Bucket=BUCKET, Prefix="task-logs/")
        return [
            item["Key"]
            for item in listing.get("Contents", [])
            if f"dag_id={DAG_ID}" in item["Key"]
            and "task_id=where_am_i" in item["Key"]
            and run_id in item["Key"]
        ]

    keys = wait_for("the task log in S3", stored, 120)
    body = s3.get_object(Bucket=BUCKET, Key=keys[0])
    assert body.get("ServerSideEncryption") == "AES256", (
        "airflow_config_remote_log_encrypt is not applied"
    )
    text = body["Body"].read().decode()
    hostname = worker.check_output("hostname")
    assert hostname in text, text[-2000:]

    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/where_am_i/logs/1"
    status, shown = api.call("GET", path)
    assert status == 200, f"{path}: {status} {shown}"
    shown_text = json.dumps(shown)
    assert f"s3://{BUCKET}/" in shown_text, "the API did not read the log from S3"
    assert hostname in shown_text


def test_no_aws_secret_appears_in_the_ansible_output(inventory_vars: dict[str, Any]) -> None:
    log = _log()
    assert "ESTABLISH SSH CONNECTION" in log, "the log holds no -vvv run over SSH"
    secrets = [
        inventory_vars[name]
        for name in (
            "molecule_aws_fernet_key",
            "molecule_aws_jwt_secret",
            "molecule_aws_api_secret_key",
            "airflow_config_db_password",
            "airflow_config_redis_password",
            "airflow_config_admin_password",
        )
    ]
    leaked = sorted({s[:4] + "..." for s in secrets for form in _encoded_forms(s) if form in log})
    assert not leaked, f"secrets printed by Ansible: {leaked}"
