"""What a user of the deployed cluster sees: services up, UI login, a DAG that runs on a worker."""

from __future__ import annotations

import os
import re
from typing import Any

from conftest import Api, wait_for

MASTER_UNITS = ["api-server", "scheduler", "dag-processor", "triggerer"]
WORKER_UNITS = ["celery-worker"]
DAG_ID = "dataops_smoke"


def _main_pid(host: Any, unit: str) -> int:
    return int(host.check_output(f"systemctl show -p MainPID --value airflow-{unit}.service"))


def test_units_run_on_the_right_hosts(masters: list[Any], workers: list[Any]) -> None:
    for host, units, absent in [(m, MASTER_UNITS, WORKER_UNITS) for m in masters] + [
        (w, WORKER_UNITS, MASTER_UNITS) for w in workers
    ]:
        for unit in units:
            service = host.service(f"airflow-{unit}")
            assert service.is_enabled, f"airflow-{unit} not enabled on {host.backend.host}"
            wait_for(f"airflow-{unit} on {host.backend.host}", lambda s=service: s.is_running, 60)
        for unit in absent:
            assert not host.file(f"/etc/systemd/system/airflow-{unit}.service").exists


def test_api_server_reports_every_component_healthy(api: Api) -> None:
    def healthy() -> bool:
        status, body = api.call("GET", "/api/v2/monitor/health")
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return status == 200 and all(body[p]["status"] == "healthy" for p in parts)

    wait_for("every component to report healthy", healthy, 120)


def test_login_is_required(master: Any) -> None:
    status = Api(master).call("GET", "/api/v2/dags")[0]
    assert status == 401


def test_wrong_password_is_refused(master: Any) -> None:
    status = Api(master).call("POST", "/auth/token", {"username": "admin", "password": "wrong"})[0]
    assert status in (401, 403)


def test_dag_runs_and_its_tasks_run_on_a_worker(api: Api, workers: list[Any]) -> None:
    wait_for(
        "the DAG to be parsed", lambda: api.call("GET", f"/api/v2/dags/{DAG_ID}")[0] == 200, 180
    )
    status, run = api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None})
    assert status in (200, 201), f"trigger failed: {status} {run}"
    run_id = run["dag_run_id"]

    def finished() -> str | None:
        state = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")[1]["state"]
        return state if state in ("success", "failed") else None

    assert wait_for("the DAG run to finish", finished, 300, interval=3) == "success"
    listing = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")[1]
    instances = listing["task_instances"]
    assert len(instances) == 4  # where_am_i and three mapped squares
    worker_names = {w.check_output("hostname") for w in workers}
    for instance in instances:
        assert instance["state"] == "success"
        assert instance["hostname"] in worker_names, (
            f"{instance['task_id']} ran on {instance['hostname']}"
        )


def test_config_is_identical_everywhere_and_private(masters: list[Any], workers: list[Any]) -> None:
    hosts = masters + workers
    digests = {
        h.backend.host: h.check_output("sha256sum /etc/airflow/airflow.cfg").split()[0]
        for h in hosts
    }
    assert len(set(digests.values())) == 1, digests
    secrets = {
        h.backend.host: h.check_output("sha256sum /etc/airflow/secrets.env").split()[0]
        for h in hosts
    }
    assert len(set(secrets.values())) == 1, "nodes hold different secrets"
    for host in hosts:
        for path in (
            "/etc/airflow/airflow.cfg",
            "/etc/airflow/secrets.env",
            "/etc/airflow/airflow.env",
        ):
            config = host.file(path)
            assert (config.user, config.group, config.mode) == ("root", "airflow", 0o640), path


def test_airflow_user_has_no_shell_and_no_sudo(masters: list[Any], workers: list[Any]) -> None:
    for host in masters + workers:
        user = host.user("airflow")
        assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin")
        assert set(user.groups) == {"airflow"}
        assert "is not allowed to run sudo" in host.run("sudo -l -U airflow").stdout


def test_no_secret_appears_in_the_ansible_output(
    master: Any, inventory_vars: dict[str, Any]
) -> None:
    log_path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.log")
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        log = handle.read()
    assert "PLAY RECAP" in log, "the log does not hold the converge runs"
    env = master.check_output("cat /etc/airflow/secrets.env")
    secrets = re.findall(r"^AIRFLOW__\w+='(.*)'$", env, flags=re.MULTILINE)
    assert len(secrets) == 6
    secrets += [
        inventory_vars["airflow_config_db_password"],
        inventory_vars["airflow_config_redis_password"],
        inventory_vars["airflow_config_admin_password"],
    ]
    leaked = [s[:4] + "..." for s in secrets if s in log]
    assert not leaked, f"secrets printed by Ansible: {leaked}"


def test_killed_processes_come_back(master: Any, worker: Any) -> None:
    for host, unit in ((master, "scheduler"), (worker, "celery-worker")):
        before = _main_pid(host, unit)
        assert before > 0
        host.run(f"kill -9 {before}")

        def restarted(h: Any = host, u: str = unit, old: int = before) -> bool:
            pid = _main_pid(h, u)
            return pid not in (0, old) and h.service(f"airflow-{u}").is_running

        wait_for(f"systemd to restart airflow-{unit}", restarted, 90)
