"""Drill DAG shipped with the tests: one task per entry of the run's `seconds` list, each holding
its worker slot that long. The cluster drills use it to keep tasks running during a rolling
restart, a scheduler failover and a killed worker; each task reports where it ran."""

import socket
import time
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="dataops_drill",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    max_active_tasks=64,
    params={"seconds": [5]},
    # a task whose worker died is retried (the killed-worker drill); the others must not need it
    default_args={"retries": 2, "retry_delay": timedelta(seconds=5)},
    tags=["dataops", "drill"],
)
def dataops_drill() -> None:
    @task
    def durations(**context: object) -> list[int]:
        return [int(seconds) for seconds in context["params"]["seconds"]]  # type: ignore[index]

    @task
    def hold(seconds: int) -> str:
        time.sleep(seconds)
        return socket.gethostname()

    hold.expand(seconds=durations())


dataops_drill()
