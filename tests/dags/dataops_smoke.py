"""Smoke-test DAG shipped with the tests: proves that a task runs on a Celery worker."""

import os
import socket

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="dataops_smoke",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["dataops", "smoke"],
)
def dataops_smoke() -> None:
    @task
    def where_am_i() -> str:
        return socket.gethostname()

    @task
    def airflow_variables() -> list[str]:
        """The names (never the values) of the AIRFLOW__ settings task code can see."""
        return sorted(name for name in os.environ if name.startswith("AIRFLOW__"))

    @task
    def square(number: int) -> int:
        return number * number

    where_am_i()
    airflow_variables()
    square.expand(number=[1, 2, 3])


dataops_smoke()
