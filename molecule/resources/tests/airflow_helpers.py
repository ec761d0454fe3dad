"""What the scenarios' tests share: the inventory's hosts, polling, and the Airflow REST API."""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable
from typing import Any

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
# The converge runs logged to ANSIBLE_LOG_PATH are checked for secrets; the
# inventory dumps testinfra itself asks Ansible for (all variables) must not land there.
os.environ.pop("ANSIBLE_LOG_PATH", None)
API = "http://localhost:8080"
# One JSON line per AWX job a scenario runs (tests/awx_job.py --record: the rotate_fernet.yml side
# effect and test_awx_jobs.py); conftest.py lists them after the tests.
AWX_JOB_RECORD = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "awx-jobs.jsonl")


def hosts_of(group: str) -> list[Any]:
    names = AnsibleRunner(INVENTORY).get_hosts(group)
    # A loop over an empty group would pass whatever the cluster does.
    assert names, f"the inventory has no host in group {group}"
    return [testinfra.get_host(f"ansible://{name}", ansible_inventory=INVENTORY) for name in names]


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 2.0) -> Any:
    """Poll probe() until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


class Api:
    """The Airflow REST API of a master, called with curl on that master."""

    def __init__(self, host: Any, token: str | None = None) -> None:
        self.host = host
        self.token = token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, API + path]
        if self.token:
            args += ["-H", f"Authorization: Bearer {self.token}"]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
        out = self.host.run(" ".join(shlex.quote(a) for a in args)).stdout
        text, status = out.rsplit("\n", 1) if "\n" in out else ("", out)
        try:
            payload = json.loads(text) if text else None
        except json.JSONDecodeError:
            payload = text
        return int(status or 0), payload


@pytest.fixture(scope="session")
def masters() -> list[Any]:
    return hosts_of("masters")


@pytest.fixture(scope="session")
def workers() -> list[Any]:
    return hosts_of("workers")


@pytest.fixture(scope="session")
def master(masters: list[Any]) -> Any:
    return masters[0]


@pytest.fixture(scope="session")
def worker(workers: list[Any]) -> Any:
    return workers[0]


@pytest.fixture(scope="session")
def inventory_vars(master: Any) -> dict[str, Any]:
    return master.ansible.get_variables()


@pytest.fixture(scope="session")
def api(master: Any, inventory_vars: dict[str, Any]) -> Api:
    wait_for(
        "the API server to answer",
        lambda: Api(master).call("GET", "/api/v2/monitor/health")[0] == 200,
        180,
    )
    status, body = Api(master).call(
        "POST",
        "/auth/token",
        {
            "username": inventory_vars.get("airflow_config_admin_username", "admin"),
            "password": inventory_vars["airflow_config_admin_password"],
        },
    )
    assert status in (200, 201), f"admin login failed: {status} {body}"
    return Api(master, body["access_token"])
