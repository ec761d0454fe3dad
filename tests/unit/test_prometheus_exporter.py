"""The prometheus_exporter role's plugin logic and its Grafana dashboard."""

from __future__ import annotations

import datetime
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "prometheus_exporter"
sys.path.insert(0, str(REPO / "tests"))
from promql import dashboard_exprs, metric_names  # noqa: E402

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module")
def plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dataops_airflow_metrics", ROLE / "files" / "dataops_airflow_metrics.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_queued_age_and_count_per_queue(plugin: ModuleType) -> None:
    rows = [("etl", 3, NOW - datetime.timedelta(minutes=16)), (None, 1, NOW)]
    samples = {(s.name, s.labels["queue"]): s.value for s in plugin.queued_samples(rows, NOW)}
    assert samples == {
        ("dataops_airflow_queued_tasks", "etl"): 3.0,
        ("dataops_airflow_task_queued_oldest_seconds", "etl"): 960.0,
        ("dataops_airflow_queued_tasks", "default"): 1.0,
        ("dataops_airflow_task_queued_oldest_seconds", "default"): 0.0,
    }


def test_queued_without_queued_time_counts_as_just_queued(plugin: ModuleType) -> None:
    count, age = plugin.queued_samples([("default", 2, None)], NOW)
    assert (count.value, age.value) == (2.0, 0.0)


def test_heartbeat_age_per_component_and_host(plugin: ModuleType) -> None:
    rows = [
        ("SchedulerJob", "master1", NOW - datetime.timedelta(seconds=5)),
        ("TriggererJob", None, NOW - datetime.timedelta(seconds=90)),
        ("DagProcessorJob", "master1", None),
    ]
    samples = plugin.heartbeat_samples(rows, NOW)
    assert [(s.labels, s.value) for s in samples] == [
        ({"job_type": "SchedulerJob", "hostname": "master1"}, 5.0),
        ({"job_type": "TriggererJob", "hostname": ""}, 90.0),
    ]


def test_heartbeat_from_the_future_is_age_zero(plugin: ModuleType) -> None:
    rows = [("SchedulerJob", "m", NOW + datetime.timedelta(seconds=3))]
    assert plugin.heartbeat_samples(rows, NOW)[0].value == 0.0


def test_pool_slots_one_sample_per_state(plugin: ModuleType) -> None:
    stats = {"starved": {"total": 0, "open": 0, "scheduled": 1}, "default_pool": {"total": 128}}
    samples = plugin.pool_samples(stats)
    assert len(samples) == 2 * len(plugin.POOL_STATES)
    by_key = {(s.labels["pool"], s.labels["state"]): s.value for s in samples}
    assert by_key[("starved", "scheduled")] == 1.0
    assert by_key[("starved", "running")] == 0.0
    assert by_key[("default_pool", "total")] == 128.0


def test_every_sample_name_has_help(plugin: ModuleType) -> None:
    samples = (
        plugin.queued_samples([("q", 1, NOW)], NOW)
        + plugin.heartbeat_samples([("SchedulerJob", "h", NOW)], NOW)
        + plugin.pool_samples({"p": {}})
        + plugin.import_error_samples(2)
    )
    assert {s.name for s in samples} == set(plugin.HELP)


def test_importing_outside_airflow_registers_nothing(plugin: ModuleType) -> None:
    assert not hasattr(plugin, "DataopsAirflowMetricsPlugin")


# --- Grafana dashboard -----------------------------------------------------------------------

DASHBOARD = ROLE / "files" / "dashboards" / "dataops-airflow.json"
# What the exporters of the role serve: the collector above, airflow-exporter, node_exporter,
# Prometheus itself.
EXPORTED = {
    "dataops_airflow_task_queued_oldest_seconds",
    "dataops_airflow_queued_tasks",
    "dataops_airflow_job_heartbeat_age_seconds",
    "dataops_airflow_dag_import_errors",
    "dataops_airflow_pool_slots",
    "airflow_task_status",
    "airflow_dag_status",
    "airflow_dag_last_status",
    "airflow_dag_run_duration",
    "node_systemd_unit_state",
    "node_cpu_seconds_total",
    "node_memory_MemAvailable_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "up",
}
EXPECTED_PANELS = {
    "Oldest queued task, by queue",
    "Heartbeat age, by component and host",
    "Airflow units active",
    "DAG import errors",
    "Pool slots, by pool and state",
    "Scrape targets up",
}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_dashboard_has_the_expected_panels(dashboard: dict) -> None:
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert titles >= EXPECTED_PANELS
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_dashboard_queries_name_exported_metrics(dashboard: dict) -> None:
    exprs = dashboard_exprs(dashboard)
    assert exprs
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        assert names <= EXPORTED, (expr, names - EXPORTED)


def test_dashboard_datasource_is_a_variable(dashboard: dict) -> None:
    uids = {
        target["datasource"]["uid"] for panel in dashboard["panels"] for target in panel["targets"]
    }
    assert uids == {"${datasource}"}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        (
            'max by (queue) (dataops_airflow_queued_tasks{queue="a b"})',
            {"dataops_airflow_queued_tasks"},
        ),
        (
            '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))',
            {"node_cpu_seconds_total"},
        ),
        ("a / on (pool) group_left b > bool 0", {"a", "b"}),
        ("(count(x < 5) or vector(0)) < 3", {"x"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
