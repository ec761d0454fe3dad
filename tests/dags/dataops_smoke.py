"""Smoke-test DAG shipped with the tests: proves that a task runs on a Celery worker."""

import os
import socket

import pendulum
from airflow.sdk import dag, task

# The URL the Task SDK puts in a task's environment so that it cannot reach the database.
BLOCKED_DATABASE = "airflow-db-not-allowed"


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
    def airflow_variables() -> dict[str, str]:
        """The AIRFLOW__ settings task code can see: names only, never the values.

        The Task SDK itself sets [database] sql_alchemy_conn for each task process to a
        placeholder that blocks any database access; such a setting is "blocked", any other
        one "set".
        """
        return {
            name: "blocked" if value.startswith(BLOCKED_DATABASE) else "set"
            for name, value in sorted(os.environ.items())
            if name.startswith("AIRFLOW__")
        }

    @task
    def square(number: int) -> int:
        return number * number

    where_am_i()
    airflow_variables()
    square.expand(number=[1, 2, 3])


dataops_smoke()
