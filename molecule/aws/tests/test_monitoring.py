"""Monitoring: the monitoring instance's Prometheus scrapes every node and the API server's
metrics, its alert rules pass their promtool tests, and a stuck task, a starved pool and a
stopped scheduler each reach Slack (the receiver on that node) through Alertmanager."""

from __future__ import annotations

import json
import os
import shlex
import sys
from typing import Any

import pytest
from airflow_helpers import Api, hosts_of, wait_for
from test_aws import _log

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "tests"))
from promql import dashboard_exprs, metric_names

PROMETHEUS = "http://127.0.0.1:9090"
MESSAGES = "/var/lib/slack-receiver/messages.jsonl"
DASHBOARD = os.path.join(
    os.environ["MOLECULE_PROJECT_DIRECTORY"],
    "roles/prometheus_exporter/files/dashboards/dataops-airflow.json",
)
DAG_ID = "dataops_monitoring"
POOL = "dataops_starved"
# Seen by the test of the alert that the Slack payload is kept for (the closing note shows it).
PAYLOAD_COPY = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "slack-payload.json")


@pytest.fixture(scope="module")
def monitor() -> Any:
    return hosts_of("monitoring")[0]


def _get(host: Any, url: str) -> Any:
    out = host.run(f"curl -sf {shlex.quote(url)}")
    return json.loads(out.stdout) if out.rc == 0 and out.stdout else None


def _query(monitor: Any, promql: str) -> list[dict[str, Any]]:
    query = shlex.quote("query=" + promql)
    out = monitor.run(f"curl -sf -G {PROMETHEUS}/api/v1/query --data-urlencode {query}")
    assert out.rc == 0, f"{promql}: {out.stderr}"
    return json.loads(out.stdout)["data"]["result"]


def _messages(monitor: Any) -> list[dict[str, Any]]:
    out = monitor.run(f"cat {MESSAGES}")
    return [json.loads(line)["body"] for line in out.stdout.splitlines() if line.strip()]


def _firing(monitor: Any, alertname: str, text: str = "") -> dict[str, Any] | None:
    """The first Slack message that reports alertname firing (and mentions text)."""
    for message in _messages(monitor):
        for attachment in message.get("attachments", []):
            title = attachment.get("title", "")
            if (
                title.startswith("[FIRING")
                and f"] {alertname} (" in title
                and text in (attachment.get("text", ""))
            ):
                return message
    return None


def test_prometheus_scrapes_every_target(monitor: Any) -> None:
    wanted = {
        ("airflow-node", "aws-master1"),
        ("airflow-node", "aws-worker1"),
        ("airflow", "aws-master1"),
        ("prometheus", "127.0.0.1:9090"),
        ("alertmanager", "127.0.0.1:9093"),
    }

    def all_up() -> dict[tuple[str, str], str] | None:
        targets = (_get(monitor, f"{PROMETHEUS}/api/v1/targets") or {}).get("data", {})
        health = {
            (t["labels"]["job"], t["labels"]["instance"]): t["health"]
            for t in targets.get("activeTargets", [])
        }
        return health if set(health) == wanted and set(health.values()) == {"up"} else None

    health = wait_for("every target to be scraped and up", all_up, 120, interval=3)
    assert set(health) == wanted


def test_the_api_server_serves_airflow_and_cluster_metrics(monitor: Any) -> None:
    for metric in (
        "airflow_task_status",  # airflow-exporter, on Airflow 3.3
        "dataops_airflow_job_heartbeat_age_seconds",  # the collection's collector
        "dataops_airflow_pool_slots",
    ):
        series = wait_for(f"{metric} in Prometheus", lambda m=metric: _query(monitor, m), 180)
        assert all(s["metric"]["instance"] == "aws-master1" for s in series)
    wanted = {"SchedulerJob", "TriggererJob", "DagProcessorJob"}

    def components() -> set[str]:
        return {
            s["metric"]["job_type"]
            for s in _query(monitor, "dataops_airflow_job_heartbeat_age_seconds")
        }

    # polled: a component that has not heartbeaten since the last restart is not listed yet
    wait_for(f"heartbeats of {sorted(wanted)}", lambda: components() == wanted or None, 180)


def test_promtool_checks_and_unit_tests_pass(monitor: Any) -> None:
    check = monitor.run("promtool check rules /etc/prometheus/rules/dataops-airflow.yml")
    assert check.rc == 0 and "SUCCESS: 9 rules found" in check.stdout, check.stdout + check.stderr
    tests = monitor.run(
        "cd /etc/prometheus/rules/tests && promtool test rules dataops-airflow.test.yml"
    )
    assert tests.rc == 0 and "SUCCESS" in tests.stdout, tests.stdout + tests.stderr


def test_every_dashboard_query_names_a_metric_prometheus_has(monitor: Any) -> None:
    with open(DASHBOARD, encoding="utf-8") as handle:
        dashboard = json.load(handle)
    names = set(_get(monitor, f"{PROMETHEUS}/api/v1/label/__name__/values")["data"])
    missing = {
        expr: sorted(metric_names(expr) - names)
        for expr in dashboard_exprs(dashboard)
        if metric_names(expr) - names
    }
    assert not missing


def test_a_stuck_task_and_a_starved_pool_page_slack(monitor: Any, api: Api) -> None:
    status, body = api.call("POST", "/api/v2/pools", {"name": POOL, "slots": 0})
    assert status in (200, 201, 409), f"pool: {status} {body}"
    wait_for(
        "the DAG to be parsed", lambda: api.call("GET", f"/api/v2/dags/{DAG_ID}")[0] == 200, 180
    )
    status, run = api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None})
    assert status in (200, 201), f"trigger failed: {status} {run}"
    try:
        queued = wait_for(
            "the queued alert in Slack",
            lambda: _firing(monitor, "AirflowTaskQueuedTooLong", "queue dataops_nobody"),
            480,
            interval=3,
        )
        with open(PAYLOAD_COPY, "w", encoding="utf-8") as handle:
            json.dump(queued, handle, indent=2)
        print("Slack payload received:\n" + json.dumps(queued, indent=2))
        assert queued["channel"] == "#airflow-alerts"
        attachment = queued["attachments"][0]
        assert "(airflow-molecule)" in attachment["title"], "the cluster label is missing"
        assert attachment["color"] == "danger"
        # prometheus_exporter_alertmanager_external_url: the link goes where people open it
        link = "https://alerts.airflow-molecule.test/alertmanager/"
        assert attachment["title_link"].startswith(link), attachment["title_link"]
        wait_for(
            "the pool-starving alert in Slack",
            lambda: _firing(monitor, "AirflowPoolStarving", f"pool {POOL}"),
            240,
            interval=3,
        )
    finally:
        api.call("PATCH", f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}", {"state": "failed"})


def test_stopping_the_scheduler_pages_slack(monitor: Any, master: Any, api: Api) -> None:
    master.run("systemctl stop airflow-scheduler.service")
    try:
        wait_for(
            "the scheduler heartbeat alert in Slack",
            lambda: _firing(monitor, "AirflowSchedulerHeartbeatMissing"),
            300,
            interval=3,
        )
        wait_for(
            "the unit-down alert in Slack",
            lambda: _firing(monitor, "AirflowUnitDown", "airflow-scheduler.service"),
            120,
            interval=3,
        )
    finally:
        master.run("systemctl start airflow-scheduler.service")

    def healthy() -> bool:
        body = api.call("GET", "/api/v2/monitor/health")[1]
        return isinstance(body, dict) and body["scheduler"]["status"] == "healthy"

    wait_for("the scheduler to be healthy again", healthy, 240)


def test_the_webhook_url_is_kept_private(monitor: Any, inventory_vars: dict[str, Any]) -> None:
    stored = monitor.file("/etc/prometheus/alertmanager-slack-webhook-url")
    assert (stored.user, stored.group, stored.mode) == ("root", "prometheus", 0o640)
    assert stored.content_string == inventory_vars["molecule_aws_slack_webhook_url"]
    log = _log()
    assert "ESTABLISH SSH CONNECTION" in log
    assert "molecule-slack-token" not in log, "the Slack webhook URL was printed"
