"""What a user of the deployed cluster sees: services up, UI login, a DAG that runs on a worker."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import urllib.parse
from typing import Any

import pytest
from airflow_helpers import Api, wait_for

MASTER_UNITS = ["api-server", "scheduler", "dag-processor", "triggerer"]
WORKER_UNITS = ["celery-worker"]
DAG_ID = "dataops_smoke"
# What the control plane holds and a Celery worker must not (task code could read it). The
# worker does get [api] secret_key while it serves task logs (no remote logging here), which
# its log server needs to check the API server's requests.
CONTROL_PLANE_SECRETS = (
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
)

# The cluster scenario runs these tests too (molecule/cluster/molecule.yml). What it proves with
# a drill of its own, or what is the same on one node as on eight, runs in default only.
default_only = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") == "cluster",
    reason="covered in the cluster scenario by its drills, and the same on every node",
)


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


def _run_smoke_dag(api: Api) -> str:
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
    return run_id


@default_only
def test_dag_runs_and_its_tasks_run_on_a_worker(api: Api, workers: list[Any]) -> None:
    run_id = _run_smoke_dag(api)
    listing = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")[1]
    instances = listing["task_instances"]
    assert len(instances) == 5  # where_am_i, airflow_variables and three mapped squares
    worker_names = {w.check_output("hostname") for w in workers}
    for instance in instances:
        assert instance["state"] == "success"
        assert instance["hostname"] in worker_names, (
            f"{instance['task_id']} ran on {instance['hostname']}"
        )

    # Task code on a worker sees the broker, never the control plane's secrets.
    path = (
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/airflow_variables"
        "/xcomEntries/return_value"
    )
    status, entry = api.call("GET", path)
    assert status == 200, f"no XCom from airflow_variables: {status} {entry}"
    value = entry["value"]
    seen = json.loads(value) if isinstance(value, str) else value
    assert seen.get("AIRFLOW__CELERY__BROKER_URL") == "set", seen
    # The Task SDK blocks the database for task code with a placeholder URL of its own.
    leaked = {
        name: seen[name] for name in CONTROL_PLANE_SECRETS if seen.get(name, "blocked") != "blocked"
    }
    assert not leaked, f"a worker task sees {leaked} (all it sees: {seen})"


def _sha256(host: Any, path: str) -> str:
    return host.check_output(f"sha256sum {path}").split()[0]


def test_config_is_identical_everywhere_and_private(masters: list[Any], workers: list[Any]) -> None:
    hosts = masters + workers
    for path in ("/etc/airflow/airflow.cfg", "/etc/airflow/worker-secrets.env"):
        digests = {h.backend.host: _sha256(h, path) for h in hosts}
        assert len(set(digests.values())) == 1, f"{path} differs: {digests}"
    control = {m.backend.host: _sha256(m, "/etc/airflow/secrets.env") for m in masters}
    assert len(set(control.values())) == 1, "masters hold different secrets"
    for host in hosts:
        readable = ["/etc/airflow/airflow.cfg", "/etc/airflow/airflow.env"]
        readable += ["/etc/airflow/webserver_config.py"]
        secret = ["/etc/airflow/worker-secrets.env"]
        secret += ["/etc/airflow/secrets.env"] if host in masters else []
        for path, owner in [(p, ("root", "airflow", 0o640)) for p in readable] + [
            (p, ("root", "root", 0o600)) for p in secret
        ]:
            config = host.file(path)
            assert (config.user, config.group, config.mode) == owner, path


def test_workers_hold_no_control_plane_secrets(workers: list[Any]) -> None:
    for worker in workers:
        assert not worker.file("/etc/airflow/secrets.env").exists
        # The environment the running worker was started with, as its unit recorded it
        # (/proc/PID/environ is overwritten by setproctitle).
        environ = worker.check_output(
            "tr '\\0' '\\n' < /run/dataops-airflow/airflow-celery-worker.service.environ"
        )
        names = {line.split("=", 1)[0] for line in environ.splitlines()}
        assert "AIRFLOW__CELERY__BROKER_URL" in names
        assert not names & set(CONTROL_PLANE_SECRETS), f"{worker.backend.host}: {names}"


def test_airflow_can_write_only_dags_and_logs(masters: list[Any], workers: list[Any]) -> None:
    """What Airflow imports as code or configuration is root's; a task cannot plant any."""
    for host in masters + workers:
        name = host.backend.host
        for path in ("/var/lib/airflow", "/var/lib/airflow/plugins", "/etc/airflow"):
            assert host.file(path).user == "root", f"{path} on {name}"
            probe = f"{path}/.dataops-write-probe"
            result = host.run(f"runuser -u airflow -- touch {probe}")
            assert result.rc != 0, f"airflow can write {path} on {name}"
        for path in ("/var/lib/airflow/dags", "/var/lib/airflow/logs"):
            probe = f"{path}/.dataops-write-probe"
            assert host.run(f"runuser -u airflow -- touch {probe} && rm {probe}").rc == 0, (
                f"airflow cannot write {path} on {name}"
            )


# Planted in dags/ as task code could be: when an airflow process parses it with
# DATAOPS_TTY_PROBE set, it writes the device number of its controlling terminal (0: none).
TTY_PROBE = """\
# An airflow dag file in name only: it reports the terminal of the process that parses it.
import os

if os.environ.get("DATAOPS_TTY_PROBE"):
    with open("/proc/self/stat") as stat:
        tty_nr = stat.read().rsplit(")", 1)[1].split()[4]
    with open(os.environ["DATAOPS_TTY_PROBE"], "w") as out:
        out.write(tty_nr)
"""


def _terminal_reached(host: Any, command: str) -> tuple[str, str]:
    """Run command as root on a new pseudo-terminal; return the device numbers of root's
    terminal and of the one the probe reached."""
    host.run("rm -f /tmp/dataops-tty-root /tmp/dataops-tty-probe")
    script = f"cut -d' ' -f7 /proc/self/stat > /tmp/dataops-tty-root; {command}"
    spawn = f"import pty; pty.spawn(['sh', '-c', {script!r}])"
    env = "DATAOPS_TTY_PROBE=/tmp/dataops-tty-probe"
    result = host.run(f"{env} python3 -c {shlex.quote(spawn)} </dev/null")
    assert result.rc == 0, result.stdout + result.stderr
    root = host.check_output("cat /tmp/dataops-tty-root")
    reached = host.run("cat /tmp/dataops-tty-probe")
    assert reached.rc == 0, f"the probe did not run: {command} printed {result.stdout}"
    return root, reached.stdout.strip()


@default_only
def test_cli_wrapper_keeps_task_code_off_roots_terminal(master: Any) -> None:
    """root runs `airflow dags list --local`, which imports every file in dags/: that code must
    not get root's terminal (it could push keystrokes into root's shell with TIOCSTI)."""
    probe = "/var/lib/airflow/dags/dataops_tty_probe.py"
    encoded = base64.b64encode(TTY_PROBE.encode()).decode()
    master.check_output(f"echo {encoded} | base64 -d > {probe} && chown airflow:airflow {probe}")
    try:
        # The probe can tell: an airflow process started plainly from root's terminal has it.
        root, reached = _terminal_reached(
            master, f"runuser -u airflow -- /opt/airflow/bin/python {probe}"
        )
        assert root != "0" and reached == root, (root, reached)
        # Every stream a terminal: the wrapper gives the CLI a new pseudo-terminal.
        root, reached = _terminal_reached(master, "airflow dags list --local -o plain")
        assert reached not in ("0", root), (root, reached)
        # Output to a pipe or file: no controlling terminal at all.
        root, reached = _terminal_reached(master, "airflow dags list --local -o plain | cat")
        assert reached == "0", (root, reached)
    finally:
        master.run(f"rm -f {probe} /tmp/dataops-tty-root /tmp/dataops-tty-probe")


def test_airflow_user_has_no_shell_and_no_sudo(masters: list[Any], workers: list[Any]) -> None:
    for host in masters + workers:
        user = host.user("airflow")
        assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin")
        assert set(user.groups) == {"airflow"}
        assert "is not allowed to run sudo" in host.run("sudo -l -U airflow").stdout


def _encoded_forms(secret: str) -> list[str]:
    """A secret as it would appear in a log: raw, URL-encoded, base64 and JSON-escaped."""
    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        base64.b64encode(secret.encode()).decode(),
        json.dumps(secret)[1:-1],
    }
    return sorted(form for form in forms if len(form) >= 8)


def test_no_secret_appears_in_the_ansible_output(
    master: Any, inventory_vars: dict[str, Any]
) -> None:
    """The log holds every run of the scenario: the -vvv --diff converge from bare hosts, the
    check-mode runs, the idempotence run and the nested runs of the side effects (drift repair,
    secret recovery, fernet rotation)."""
    log_path = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.log")
    with open(log_path, encoding="utf-8", errors="replace") as handle:
        log = handle.read()
    assert "PLAY RECAP" in log, "the log does not hold the converge runs"
    assert "ESTABLISH DOCKER CONNECTION" in log, "the log holds no -vvv run"
    env = master.check_output("cat /etc/airflow/secrets.env /etc/airflow/worker-secrets.env")
    secrets = re.findall(r"^AIRFLOW__\w+='(.*)'$", env, flags=re.MULTILINE)
    assert len(secrets) == 7  # 4 control-plane secrets; broker, result backend, API key
    secrets += [
        inventory_vars["airflow_config_db_password"],
        inventory_vars["airflow_config_redis_password"],
        inventory_vars["airflow_config_admin_password"],
    ]
    generated = json.loads(master.check_output("cat /etc/airflow/generated-secrets.json"))
    secrets += list(generated.values())
    index = urllib.parse.urlsplit(inventory_vars["molecule_private_index_url"])
    secrets += [index.password, f"{index.username}:{index.password}"]
    leaked = sorted(
        {secret[:4] + "..." for secret in secrets for form in _encoded_forms(secret) if form in log}
    )
    assert not leaked, f"secrets printed by Ansible: {leaked}"


@default_only
def test_killed_processes_come_back(master: Any, worker: Any) -> None:
    for host, unit in ((master, "scheduler"), (worker, "celery-worker")):
        before = _main_pid(host, unit)
        assert before > 0
        host.run(f"kill -9 {before}")

        def restarted(h: Any = host, u: str = unit, old: int = before) -> bool:
            pid = _main_pid(h, u)
            return pid not in (0, old) and h.service(f"airflow-{u}").is_running

        wait_for(f"systemd to restart airflow-{unit}", restarted, 90)
