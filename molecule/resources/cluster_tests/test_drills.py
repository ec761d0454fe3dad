"""Drills on the reference shape (3 masters, 5 workers): load, a drained rolling restart under
load, scheduler failover, a killed worker, broker and database outages, rebooted nodes, and a
cluster that is consistent after all of them. They run in this order; the figures
they measure are printed (pytest -s, or the molecule log) for docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from datetime import datetime
from typing import Any

from airflow_helpers import Api, wait_for

INVENTORY_DIR = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
MASTER_UNITS = ["api-server", "scheduler", "dag-processor", "triggerer"]
LOAD_DAGS = [f"dataops_load_{number:03d}" for number in range(6)]


def _figure(name: str, value: object) -> None:
    print(f"FIGURE {name}: {value}")


def _playbook(path: str, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run(
        ["ansible-playbook", "--inventory", INVENTORY_DIR, *args, os.path.join(PROJECT, path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def _when(stamp: str | None) -> float:
    assert stamp, "no timestamp"
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _trigger(api: Api, dag_id: str, conf: dict[str, Any] | None = None) -> str:
    wait_for(
        f"{dag_id} to be parsed", lambda: api.call("GET", f"/api/v2/dags/{dag_id}")[0] == 200, 240
    )
    body: dict[str, Any] = {"logical_date": None}
    if conf is not None:
        body["conf"] = conf
    status, run = api.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)
    assert status in (200, 201), f"trigger of {dag_id} failed: {status} {run}"
    return str(run["dag_run_id"])


def _run_state(api: Api, dag_id: str, run_id: str) -> str:
    return str(api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")[1]["state"])


def _wait_finished(api: Api, dag_id: str, run_id: str, timeout: float) -> str:
    def finished() -> str | None:
        state = _run_state(api, dag_id, run_id)
        return state if state in ("success", "failed") else None

    return str(wait_for(f"{dag_id} {run_id} to finish", finished, timeout, interval=3))


def _instances(api: Api, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=500"
    status, body = api.call("GET", path)
    assert status == 200, f"{path}: {status} {body}"
    return list(body["task_instances"])


def _hostnames(hosts: list[Any]) -> dict[str, Any]:
    return {host.check_output("hostname"): host for host in hosts}


def _main_pid(host: Any, unit: str) -> int:
    return int(host.check_output(f"systemctl show -p MainPID --value airflow-{unit}.service"))


def _consuming(master: Any) -> dict[str, list[str]]:
    out = master.run("airflow celery list-workers --output json 2>/dev/null").stdout
    lines = [line for line in out.splitlines() if line.startswith("[")]
    if not lines:
        return {}
    return {w["worker_name"]: list(w["queues"]) for w in json.loads(lines[-1])}


def test_every_worker_consumes_the_default_queue(master: Any, workers: list[Any]) -> None:
    names = {f"celery@{name}" for name in _hostnames(workers)}

    def all_consuming() -> bool:
        consuming = _consuming(master)
        return all("default" in consuming.get(name, []) for name in names)

    wait_for("every worker to consume the default queue", all_consuming, 180, interval=5)


def test_capacity_report_gives_the_numbers() -> None:
    run = _playbook("playbooks/capacity_report.yml")
    # the callback wraps long lines at any space
    out = " ".join((run.stdout + run.stderr).split())
    assert run.returncode == 0, out[-3000:]
    assert "worker slots: 30 on 5 worker(s) (by queue: default 30)" in out, out[-3000:]
    assert "scheduler parallelism: 30 (3 scheduler(s); [core] parallelism limits each" in out
    # 3 masters x (1 API server worker + scheduler + DAG processor + triggerer) x (5 + 10)
    assert (
        "connections, at most: 180 from 12 process(es) that use a pool, of max_connections 200"
        in out
    )


def test_generated_dags_all_succeed_spread_over_every_worker(api: Api, workers: list[Any]) -> None:
    start = time.monotonic()
    runs = {dag_id: _trigger(api, dag_id) for dag_id in LOAD_DAGS}
    states = {dag_id: _wait_finished(api, dag_id, run_id, 600) for dag_id, run_id in runs.items()}
    _figure(
        "load: 6 DAGs x 5 tasks, trigger to all finished (s)", round(time.monotonic() - start, 1)
    )
    assert set(states.values()) == {"success"}, states
    instances = [ti for dag_id, run_id in runs.items() for ti in _instances(api, dag_id, run_id)]
    assert len(instances) == 30 and {ti["state"] for ti in instances} == {"success"}
    used = {ti["hostname"] for ti in instances}
    assert used == set(_hostnames(workers)), f"tasks ran on {sorted(used)} only"


def test_rolling_restart_refuses_bad_input_before_draining_any_worker(
    master: Any, workers: list[Any]
) -> None:
    pids = {host.backend.host: _main_pid(host, "celery-worker") for host in workers}
    for bad, variable in (
        ({"worker_restart_drain_timeout": 0}, "worker_restart_drain_timeout"),
        ({"worker_restart_queues": ["default", "no spaces"]}, "worker_restart_queues"),
        ({"worker_restart_batch_size": "two"}, "worker_restart_batch_size"),
    ):
        run = _playbook("playbooks/rolling_restart_workers.yml", "--extra-vars", json.dumps(bad))
        out = " ".join((run.stdout + run.stderr).split())
        assert run.returncode != 0 and variable in out, out[-2000:]
        assert "Drain and restart the workers" not in out, f"{bad} got past the checks"
    assert {host.backend.host: _main_pid(host, "celery-worker") for host in workers} == pids
    names = {f"celery@{name}" for name in _hostnames(workers)}
    assert all("default" in _consuming(master).get(name, []) for name in names)


def test_rolling_restart_under_load_loses_no_task(
    api: Api, master: Any, workers: list[Any]
) -> None:
    """45 tasks of 15, 30 and 45 s on 30 slots; the workers are drained and restarted one at a
    time while at least 20 of them run. Every task succeeds at its first try."""
    pids = {host.backend.host: _main_pid(host, "celery-worker") for host in workers}
    seconds = [15] * 15 + [30] * 15 + [45] * 15
    run_id = _trigger(api, "dataops_drill", {"seconds": seconds})

    def running() -> int:
        count = sum(
            1 for ti in _instances(api, "dataops_drill", run_id) if ti["state"] == "running"
        )
        return count if count >= 20 else 0

    _figure(
        "rolling restart: tasks running when it started", wait_for("20 running tasks", running, 300)
    )
    start = time.monotonic()
    restart = _playbook(
        "playbooks/rolling_restart_workers.yml",
        "--extra-vars",
        '{"worker_restart_drain_timeout": 600}',
    )
    took = round(time.monotonic() - start, 1)
    out = restart.stdout + restart.stderr
    assert restart.returncode == 0, out[-4000:]
    # one line per worker; the callback may wrap it at any space
    line = (
        r"(celery@\S+): drained in ([0-9.]+) s, ([0-9]+) task\(s\) waited for;"
        r" consuming default again ([0-9.]+) s after its restart"
    )
    progress = re.findall(line.replace(" ", r"\s+"), out)
    assert len(progress) == 5, out[-4000:]
    _figure("rolling restart of 5 workers under load (s)", took)
    for name, drained, waited, back in progress:
        _figure(
            f"rolling restart {name}",
            f"drained in {drained} s, {waited} tasks waited for, back in {back} s",
        )
    assert sum(int(entry[2]) for entry in progress) > 0, "no worker had a task to wait for"
    for host in workers:
        assert _main_pid(host, "celery-worker") != pids[host.backend.host], (
            f"{host.backend.host} not restarted"
        )

    assert _wait_finished(api, "dataops_drill", run_id, 900) == "success"
    holds = [ti for ti in _instances(api, "dataops_drill", run_id) if ti["task_id"] == "hold"]
    assert len(holds) == 45
    lost = [
        (ti["map_index"], ti["state"], ti["try_number"])
        for ti in holds
        if ti["state"] != "success" or ti["try_number"] != 1
    ]
    assert not lost, f"tasks lost or retried (map index, state, try): {lost}"


def test_rolling_reconfigure_gives_a_drained_worker_its_new_settings(
    master: Any, workers: list[Any]
) -> None:
    """One worker gets another concurrency while it is drained: its new process runs with it
    (the consistency check names it, and not as stale); a second run with the inventory's
    settings, upgrade included, puts it back."""
    last = workers[-1]
    name = last.backend.host
    before = _main_pid(last, "celery-worker")
    changed = _playbook(
        "playbooks/rolling_restart_workers.yml",
        "--limit",
        name,
        "--extra-vars",
        '{"worker_restart_reconfigure": true, "airflow_config_worker_concurrency": 4}',
    )
    out = " ".join((changed.stdout + changed.stderr).split())
    assert changed.returncode == 0, out[-4000:]
    assert re.search(r"drained in [0-9.]+ s, [0-9]+ task\(s\) waited for; reconfigured", out), out[
        -3000:
    ]
    assert re.search(
        r"^worker_concurrency = 4$", last.file("/etc/airflow/airflow.cfg").content_string, re.M
    )
    assert _main_pid(last, "celery-worker") != before

    check = _playbook("playbooks/validate_config.yml")
    report = " ".join((check.stdout + check.stderr).split())
    assert check.returncode != 0, "the consistency check missed a worker with another concurrency"
    assert re.search(rf"{name}\S* differs on celery\.worker_concurrency", report), report[-3000:]
    assert "runs with stale settings" not in report, (
        f"the reconfigured worker runs with stale settings: {report[-3000:]}"
    )

    back = _playbook(
        "playbooks/rolling_restart_workers.yml",
        "--limit",
        name,
        "--extra-vars",
        '{"worker_restart_reconfigure": true, "worker_restart_upgrade": true}',
    )
    out = " ".join((back.stdout + back.stderr).split())
    assert back.returncode == 0, out[-4000:]
    assert "upgraded and reconfigured (python_packages, airflow_install, airflow_config" in out
    assert re.search(
        r"^worker_concurrency = 6$", last.file("/etc/airflow/airflow.cfg").content_string, re.M
    )
    names = {f"celery@{hostname}" for hostname in _hostnames(workers)}
    assert all("default" in _consuming(master).get(worker, []) for worker in names)


def _queued_by(services: Any, dag_id: str, run_id: str, task_id: str) -> str:
    """The host of the scheduler job that queued a task instance (the metadata database)."""
    assert "'" not in dag_id + run_id + task_id
    sql = (
        "SELECT j.hostname FROM task_instance ti JOIN job j ON j.id = ti.queued_by_job_id"
        f" WHERE ti.dag_id = '{dag_id}' AND ti.run_id = '{run_id}' AND ti.task_id = '{task_id}'"
    )
    return str(
        services.check_output(f"runuser -u postgres -- psql -d airflow -tAc {shlex.quote(sql)}")
    ).strip()


def test_scheduling_goes_on_when_a_scheduler_is_killed(
    api: Api, masters: list[Any], services: Any
) -> None:
    first = masters[0]
    busy = _trigger(api, "dataops_drill", {"seconds": [5] * 20})
    wait_for(
        "the run to start",
        lambda: any(ti["state"] == "running" for ti in _instances(api, "dataops_drill", busy)),
        180,
    )
    before = _main_pid(first, "scheduler")
    first.run(f"kill -9 {before}")
    killed_at = time.time()
    after = _trigger(api, "dataops_drill", {"seconds": [1]})

    def queued_at() -> float | None:
        for ti in _instances(api, "dataops_drill", after):
            if ti["task_id"] == "durations" and ti.get("queued_when"):
                return _when(ti["queued_when"])
        return None

    queued = wait_for("a task of the run triggered after the kill to be queued", queued_at, 180)
    _figure("scheduler failover: kill -9 to the next task queued (s)", round(queued - killed_at, 1))

    def restarted() -> float | None:
        pid = _main_pid(first, "scheduler")
        if pid in (0, before) or not first.service("airflow-scheduler").is_running:
            return None
        stamp = first.check_output(
            "systemctl show -p ExecMainStartTimestamp --value airflow-scheduler"
        )
        return float(first.check_output(f"date -d '{stamp}' +%s.%N"))

    back = wait_for("systemd to restart the killed scheduler", restarted, 120)
    _figure("scheduler failover: systemd restarted it after (s)", round(back - killed_at, 1))
    # Which scheduler queued it, not which came first: systemd may bring the killed one back
    # before the others' next loop.
    killed_host = first.check_output("hostname")
    queued_by = _queued_by(services, "dataops_drill", after, "durations")
    _figure("scheduler failover: the next task was queued by", queued_by)
    others = {m.check_output("hostname") for m in masters[1:]}
    assert queued_by in others, (
        f"the task was queued by {queued_by or 'no scheduler'}, not by one of {sorted(others)}"
        f" while the scheduler of {killed_host} was down"
    )
    assert _wait_finished(api, "dataops_drill", busy, 300) == "success"
    assert _wait_finished(api, "dataops_drill", after, 300) == "success"


def test_a_killed_worker_comes_back_and_its_task_is_retried(api: Api, workers: list[Any]) -> None:
    run_id = _trigger(api, "dataops_drill", {"seconds": [30]})
    by_name = _hostnames(workers)

    def holder() -> Any:
        for ti in _instances(api, "dataops_drill", run_id):
            if (
                ti["task_id"] == "hold"
                and ti["state"] == "running"
                and ti.get("hostname") in by_name
            ):
                return by_name[ti["hostname"]]
        return None

    host = wait_for("the long task to run", holder, 240)
    before = _main_pid(host, "celery-worker")
    host.run(f"kill -9 {before}")
    killed_at = time.monotonic()

    def back() -> bool:
        pid = _main_pid(host, "celery-worker")
        return pid not in (0, before) and host.service("airflow-celery-worker").is_running

    wait_for("systemd to restart the killed worker", back, 120)
    assert _wait_finished(api, "dataops_drill", run_id, 600) == "success"
    _figure(
        "killed worker: kill -9 to the retried task's success (s)",
        round(time.monotonic() - killed_at, 1),
    )
    hold = next(ti for ti in _instances(api, "dataops_drill", run_id) if ti["task_id"] == "hold")
    assert hold["state"] == "success" and hold["try_number"] >= 2, hold


def _all_units_run(masters: list[Any], workers: list[Any]) -> bool:
    for host, units in [(m, MASTER_UNITS) for m in masters] + [
        (w, ["celery-worker"]) for w in workers
    ]:
        states = host.run(
            "systemctl show -p ActiveState -p SubState --value "
            + " ".join(f"airflow-{u}" for u in units)
        ).stdout.split()
        if states != ["active", "running"] * len(units):
            return False
    return True


def _wait_units_run(when: str, masters: list[Any], workers: list[Any]) -> None:
    wait_for(f"every unit to run {when}", lambda: _all_units_run(masters, workers), 300, 5)


def _healthy(api: Api) -> bool:
    status, body = api.call("GET", "/api/v2/monitor/health")
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return status == 200 and all(body[p]["status"] == "healthy" for p in parts)


def _scheduler_restarts(master: Any) -> int:
    return int(master.check_output("systemctl show -p NRestarts --value airflow-scheduler"))


def test_everything_returns_after_redis_and_postgresql_outages(
    api: Api, masters: list[Any], workers: list[Any], services: Any
) -> None:
    # Triggered just before the broker goes: what the scheduler was sending is lost with it and
    # queued again after [scheduler] task_queued_timeout (180 s here, checked every 120 s). It
    # is waited for at the end, while the database outage runs.
    before_broker = _trigger(api, LOAD_DAGS[0])
    services.check_output("systemctl stop redis-server")
    down_until = time.monotonic() + 20
    wait_for("the 20 s broker outage", lambda: time.monotonic() >= down_until, 30, interval=1)
    services.check_output("systemctl start redis-server")
    broker_back = start = time.monotonic()
    _wait_units_run("after the broker outage", masters, workers)
    fresh = _trigger(api, LOAD_DAGS[4])
    assert _wait_finished(api, LOAD_DAGS[4], fresh, 600) == "success"
    _figure(
        "Redis stopped 20 s: a run triggered after it finished after (s)",
        round(time.monotonic() - start, 1),
    )

    restarts = {m.backend.host: _scheduler_restarts(m) for m in masters}
    # Triggered just before the outage: their tasks are queued or scheduled when the database
    # goes, and must drain once it is back.
    before = {dag_id: _trigger(api, dag_id) for dag_id in LOAD_DAGS[1:3]}
    services.check_output("systemctl stop postgresql@15-main")
    outage_start = time.monotonic()
    # The outage lasts until every scheduler failed and was restarted more than 3 times: the
    # units keep retrying and are not left failed. On 2 cores a cycle takes about 30 s (nine
    # daemons start and fail together), so 10 restarts (the old start limit) took 6 minutes.
    wait_for(
        "each scheduler to be restarted more than 3 times during the database outage",
        lambda: all(_scheduler_restarts(m) > restarts[m.backend.host] + 3 for m in masters),
        420,
        interval=5,
    )
    services.check_output("systemctl start postgresql@15-main")
    _figure("PostgreSQL outage: length (s)", round(time.monotonic() - outage_start, 1))
    start = time.monotonic()
    _wait_units_run("after the database outage", masters, workers)
    wait_for("every component to report healthy", lambda: _healthy(api), 300, 5)
    _figure(
        "PostgreSQL outage: all units running and healthy after its end (s)",
        round(time.monotonic() - start, 1),
    )
    for m in masters:
        _figure(
            f"PostgreSQL outage: scheduler restarts on {m.backend.host}",
            _scheduler_restarts(m) - restarts[m.backend.host],
        )
    for dag_id, run_id in before.items():
        assert _wait_finished(api, dag_id, run_id, 600) == "success", f"{dag_id} {run_id}"
    after = _trigger(api, LOAD_DAGS[3])
    assert _wait_finished(api, LOAD_DAGS[3], after, 600) == "success"
    assert _wait_finished(api, LOAD_DAGS[0], before_broker, 600) == "success"
    _figure(
        "Redis outage: the run triggered before it finished, after the broker's return (s)",
        round(time.monotonic() - broker_back, 1),
    )


def test_rebooted_nodes_come_back_enabled_and_healthy(
    api: Api, masters: list[Any], workers: list[Any]
) -> None:
    rebooted = [masters[-1], workers[-1]]
    names = [host.backend.host for host in rebooted]
    subprocess.run(["docker", "restart", *names], check=True, capture_output=True, timeout=300)
    start = time.monotonic()
    _wait_units_run("on the rebooted nodes", [masters[-1]], [workers[-1]])
    worker_name = f"celery@{workers[-1].check_output('hostname')}"
    wait_for(
        "the rebooted worker to consume again",
        lambda: "default" in _consuming(masters[0]).get(worker_name, []),
        300,
        5,
    )
    wait_for("every component to report healthy", lambda: _healthy(api), 300, 5)
    _figure(
        "rebooted master and worker: units back and consuming after (s)",
        round(time.monotonic() - start, 1),
    )
    for host in rebooted:
        for unit in MASTER_UNITS if host in masters else ["celery-worker"]:
            assert host.service(f"airflow-{unit}").is_enabled


# The drills end with every node consistent; idempotence (before them) proved that a converge
# changes nothing. A second converge after them (about 2 to 5 minutes here) no longer fits
# `make test`'s time.
def test_the_cluster_is_consistent_after_the_drills() -> None:
    validate = _playbook("playbooks/validate_config.yml")
    assert validate.returncode == 0, (validate.stdout + validate.stderr)[-4000:]
