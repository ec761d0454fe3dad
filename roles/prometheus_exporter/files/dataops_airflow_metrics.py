"""Airflow plugin: cluster health metrics from the metadata database, for Prometheus.

Installed by the dataops.airflow.prometheus_exporter role into the plugins folder of the
masters. It adds one collector to prometheus_client's default registry, which the
airflow-exporter plugin serves at the API server's /admin/metrics/ (next to its
airflow_dag_* and airflow_task_status metrics):

  dataops_airflow_task_queued_oldest_seconds{queue}    age of the oldest task instance in queued
  dataops_airflow_queued_tasks{queue}                  task instances in queued
  dataops_airflow_job_heartbeat_age_seconds{job_type,hostname}
                                                       seconds since the newest heartbeat of each
                                                       scheduler, triggerer and DAG processor
  dataops_airflow_dag_import_errors                    DAG files that fail to import
  dataops_airflow_pool_slots{pool,state}               slots of each pool: total, open, running,
                                                       queued, scheduled, deferred

Every process reads the same database, so each master serves the same values: aggregate
with max by (...) in queries. The queries are read-only and bounded (one GROUP BY each).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

# A host whose component has not heartbeaten for this long is forgotten (a replaced master);
# the alert rules compare the number of live components with the number expected.
HEARTBEAT_WINDOW = datetime.timedelta(days=1)
POOL_STATES = ("total", "open", "running", "queued", "scheduled", "deferred")


class Sample(NamedTuple):
    """One value of a metric family."""

    name: str
    labels: dict[str, str]
    value: float


def _age(now: datetime.datetime, then: datetime.datetime | None) -> float:
    return 0.0 if then is None else max(0.0, (now - then).total_seconds())


def queued_samples(
    rows: Iterable[tuple[str | None, int, datetime.datetime | None]],
    now: datetime.datetime,
) -> list[Sample]:
    """(queue, count, oldest queued_dttm) rows -> the queued count and oldest age per queue."""
    samples = []
    for queue, count, oldest in rows:
        labels = {"queue": queue or "default"}
        samples.append(Sample("dataops_airflow_queued_tasks", labels, float(count)))
        samples.append(
            Sample("dataops_airflow_task_queued_oldest_seconds", labels, _age(now, oldest))
        )
    return samples


def heartbeat_samples(
    rows: Iterable[tuple[str, str | None, datetime.datetime | None]],
    now: datetime.datetime,
) -> list[Sample]:
    """(job_type, hostname, newest heartbeat) rows -> the heartbeat age per component and host."""
    return [
        Sample(
            "dataops_airflow_job_heartbeat_age_seconds",
            {"job_type": job_type, "hostname": hostname or ""},
            _age(now, newest),
        )
        for job_type, hostname, newest in rows
        if newest is not None
    ]


def pool_samples(stats: Mapping[str, Mapping[str, Any]]) -> list[Sample]:
    """Pool.slots_stats() -> one sample per pool and slot state (total -1 means unlimited)."""
    return [
        Sample(
            "dataops_airflow_pool_slots",
            {"pool": pool, "state": state},
            float(slots.get(state, 0)),
        )
        for pool, slots in sorted(stats.items())
        for state in POOL_STATES
    ]


def import_error_samples(count: int) -> list[Sample]:
    return [Sample("dataops_airflow_dag_import_errors", {}, float(count))]


HELP = {
    "dataops_airflow_queued_tasks": "Task instances in the queued state, by queue",
    "dataops_airflow_task_queued_oldest_seconds": (
        "Seconds the oldest queued task instance of each queue has been queued"
    ),
    "dataops_airflow_job_heartbeat_age_seconds": (
        "Seconds since the newest heartbeat of each scheduler, triggerer and DAG processor host"
    ),
    "dataops_airflow_dag_import_errors": "DAG files that fail to import",
    "dataops_airflow_pool_slots": "Slots of each pool by state (total -1: unlimited)",
}


def families(samples: Iterable[Sample]) -> Iterator[Any]:
    """Samples -> prometheus_client gauge families, one per metric name (empty ones included)."""
    from prometheus_client.core import GaugeMetricFamily

    by_name: dict[str, Any] = {}
    for name, help_text in HELP.items():
        by_name[name] = GaugeMetricFamily(name, help_text, labels=None)
    for sample in samples:
        by_name[sample.name].add_sample(sample.name, sample.labels, sample.value)
    yield from by_name.values()


def read_samples() -> list[Sample]:
    """Everything the collector serves, read in one session."""
    from airflow.jobs.job import Job
    from airflow.models.errors import ParseImportError
    from airflow.models.pool import Pool
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils import timezone
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import func, select

    now = timezone.utcnow()
    with create_session() as session:
        queued = session.execute(
            select(
                TaskInstance.queue,
                func.count(),
                func.min(TaskInstance.queued_dttm),
            )
            .where(TaskInstance.state == TaskInstanceState.QUEUED)
            .group_by(TaskInstance.queue)
        ).all()
        heartbeats = session.execute(
            select(Job.job_type, Job.hostname, func.max(Job.latest_heartbeat))
            .where(Job.latest_heartbeat > now - HEARTBEAT_WINDOW)
            .group_by(Job.job_type, Job.hostname)
        ).all()
        import_errors = session.scalar(select(func.count()).select_from(ParseImportError))
        pools = Pool.slots_stats(session=session)
    return (
        queued_samples(queued, now)
        + heartbeat_samples(heartbeats, now)
        + import_error_samples(import_errors or 0)
        + pool_samples(pools)
    )


class ClusterHealthCollector:
    """prometheus_client collector: reads the database on every scrape."""

    def describe(self) -> list[Any]:
        # Empty: the registry then does not call collect() at registration time.
        return []

    def collect(self) -> Iterator[Any]:
        yield from families(read_samples())


def register() -> None:
    from prometheus_client import REGISTRY

    REGISTRY.register(ClusterHealthCollector())
    log.info("dataops_airflow_metrics: collector registered")


try:
    from airflow.plugins_manager import AirflowPlugin
except ImportError:  # imported outside Airflow (the collection's unit tests)
    pass
else:
    register()

    class DataopsAirflowMetricsPlugin(AirflowPlugin):
        """Registers nothing in Airflow itself: importing the module adds the collector."""

        name = "dataops_airflow_metrics"
