"""Right-sizing: worker slots vs scheduler parallelism vs the metadata database's connections."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dataops.airflow.plugins.filter.capacity_report import capacity_report

MASTER = ["api-server", "scheduler", "dag-processor", "triggerer"]


def _host(name: str, components: list[str], **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "host": name,
        "components": components,
        "worker_slots": 4,
        "queues": ["default"],
        "parallelism": 32,
        "max_active_tasks_per_dag": 16,
        "pool_size": 5,
        "max_overflow": 10,
        "pool_enabled": True,
        "api_workers": 2,
        "result_backend_db": False,
    }
    entry.update(overrides)
    return entry


def _cluster(masters: int = 3, workers: int = 5, **overrides: Any) -> list[dict[str, Any]]:
    hosts = [_host(f"m{i}", MASTER, **overrides) for i in range(masters)]
    return hosts + [_host(f"w{i}", ["celery-worker"], **overrides) for i in range(workers)]


def test_the_reference_shape_in_numbers() -> None:
    report = capacity_report(_cluster(parallelism=8), max_connections=500)
    totals = report["totals"]
    assert totals["worker_slots"] == 20 and totals["slots_by_queue"] == {"default": 20}
    assert totals["schedulers"] == 3 and totals["parallelism"] == 24
    # each master: 2 API server workers + scheduler + dag-processor + triggerer, 15 each
    assert totals["db_connections"] == 3 * 5 * 15
    assert report["errors"] == []
    assert report["lines"][0] == "worker slots: 20 on 5 worker(s) (by queue: default 20)"
    assert "limits each scheduler" in report["lines"][1]
    assert "of max_connections 500" in report["lines"][3]


def test_parallelism_above_the_slots_is_a_warning_with_numbers() -> None:
    report = capacity_report(_cluster())
    assert report["errors"] == []
    assert any(
        "run 96 tasks at once but the workers have 20 slots" in w for w in report["warnings"]
    )
    assert any("up to 76 tasks wait in the queue" in w for w in report["warnings"])
    assert not any("max_active_tasks_per_dag" in w for w in report["warnings"])


def test_idle_slots_and_a_dag_that_can_fill_every_worker() -> None:
    idle = capacity_report(_cluster(parallelism=4, worker_slots=8))
    assert any("40 slots but the schedulers run at most 12" in w for w in idle["warnings"])
    one_dag = capacity_report(_cluster(workers=1, parallelism=4, worker_slots=4))
    assert any(
        "max_active_tasks_per_dag 16 is above the 4 worker slots" in w for w in one_dag["warnings"]
    )


def test_a_default_queue_no_worker_consumes_is_an_error() -> None:
    report = capacity_report(_cluster(queues=["etl"]))
    assert report["totals"]["slots_by_queue"] == {"etl": 20}
    assert any("no worker consumes the queue 'default'" in e for e in report["errors"])
    assert capacity_report(_cluster(queues=["etl"]), default_queue="etl")["errors"] == []


def test_the_database_budget_counts_pools_per_process() -> None:
    report = capacity_report(_cluster(), max_connections=100)
    assert report["totals"]["db_connections"] == 225
    assert any(
        "may open 225 metadata database connections" in e and "allows 97" in e
        for e in report["errors"]
    )
    # a db+ result backend: every worker slot may hold a pool too
    db_backend = capacity_report(_cluster(result_backend_db=True))
    assert db_backend["totals"]["db_connections"] == 225 + 20 * 15
    no_pool = capacity_report(_cluster(pool_enabled=False))
    assert no_pool["totals"]["db_connections"] == 15
    unknown = capacity_report(_cluster())
    assert "max_connections unknown" in unknown["lines"][3]
    assert not any("database" in e for e in unknown["errors"])


def test_bad_input_is_named() -> None:
    with pytest.raises(AnsibleFilterError, match="w0 has no whole number worker_slots"):
        capacity_report([_host("w0", ["celery-worker"], worker_slots="many")])
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        capacity_report("m0")  # type: ignore[arg-type]
