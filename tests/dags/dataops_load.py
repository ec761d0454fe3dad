"""Load DAGs shipped with the tests: `dags` DAGs of `tasks` short independent tasks each, as
dataops_load.json next to this file says (default 6 x 5; bench/load.sh writes 150 x 5, the
reference deployment's 750 tasks). Each task reports the worker it ran on."""

import json
import pathlib
import socket
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

_SETTINGS = pathlib.Path(__file__).with_suffix(".json")
_SIZE = {"dags": 6, "tasks": 5, **(json.loads(_SETTINGS.read_text()) if _SETTINGS.exists() else {})}


def _load_dag(number: int) -> None:
    @dag(
        dag_id=f"dataops_load_{number:03d}",
        schedule=None,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        is_paused_upon_creation=False,
        # a task handed to Celery while the broker is down fails at once: it runs again after the
        # 20 s broker outage of the drills (the README says so for production)
        default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
        tags=["dataops", "load"],
    )
    def load() -> None:
        for index in range(_SIZE["tasks"]):

            @task(task_id=f"step_{index:02d}")
            def step() -> str:
                return socket.gethostname()

            step()

    load()


for _number in range(_SIZE["dags"]):
    _load_dag(_number)
