"""Smoke-test DAG shipped with the tests: proves that a task runs on a Celery worker."""

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
    def square(number: int) -> int:
        return number * number

    where_am_i()
    square.expand(number=[1, 2, 3])


dataops_smoke()
