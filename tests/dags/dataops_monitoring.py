"""Monitoring test DAG: one task held in queued, one held in scheduled.

held_in_queue goes to a Celery queue no worker consumes: it stays queued in the broker (the
"task queued over 15 minutes" alert). starved_of_slots needs a slot of pool dataops_starved,
which the test creates with 0 slots: it stays scheduled (the pool-starving alert).
"""

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="dataops_monitoring",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["dataops", "monitoring"],
)
def dataops_monitoring() -> None:
    @task(queue="dataops_nobody")
    def held_in_queue() -> None:
        pass

    @task(pool="dataops_starved")
    def starved_of_slots() -> None:
        pass

    held_in_queue()
    starved_of_slots()


dataops_monitoring()
