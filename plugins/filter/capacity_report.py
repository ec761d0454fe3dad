"""Filter: the cluster's task capacity and metadata database connection budget, with numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: capacity_report
short_description: Compare worker slots, scheduler parallelism and database connections
version_added: 0.3.0
description:
  - Takes one entry per Airflow host (what it runs and with which settings) and answers the
    questions of right-sizing a CeleryExecutor cluster, with numbers.
  - "Worker slots per queue: the sum of each worker's concurrency (the maximum of its autoscale)
    over the workers that consume the queue. A queue used by default (O(default_queue)) that no
    worker consumes is an error: its tasks would wait forever."
  - "Scheduler capacity: C([core] parallelism) limits the running tasks B(per scheduler), so
    several schedulers together queue up to the sum of theirs. More than the worker slots means
    tasks wait in the queue (and may reach C([scheduler] task_queued_timeout)); fewer leaves
    slots idle. Both are warnings."
  - "C([core] max_active_tasks_per_dag) above the worker slots: one DAG alone can queue more than
    the workers run (a warning)."
  - "Database connections: each process that talks to the metadata database (every API server
    worker, scheduler, DAG processor and triggerer; with a C(db+) Celery result backend also every
    worker slot) may hold C(sql_alchemy_pool_size + sql_alchemy_max_overflow) connections. Above
    O(max_connections) minus O(reserved_connections) is an error."
positional: _input
options:
  _input:
    description:
      - "One dict per host with: C(host), C(components) (list: api-server, scheduler,
        dag-processor, triggerer, celery-worker), C(worker_slots), C(queues), C(parallelism),
        C(max_active_tasks_per_dag), C(pool_size), C(max_overflow), C(pool_enabled),
        C(api_workers), C(result_backend_db)."
    type: list
    elements: dict
    required: true
  max_connections:
    description: The database's C(max_connections); 0 when unknown (the budget is not judged).
    type: int
    default: 0
  reserved_connections:
    description: Connections kept for superusers and other clients.
    type: int
    default: 3
  default_queue:
    description: The queue tasks go to unless they name one (C([operators] default_queue)).
    type: str
    default: default
"""

EXAMPLES = r"""
- name: Report the capacity
  ansible.builtin.debug:
    msg: "{{ (hosts_capacity | dataops.airflow.capacity_report(max_connections=100)).lines }}"
"""

RETURN = r"""
_value:
  description: The report.
  type: dict
  contains:
    lines:
      description: The figures, one line each.
      type: list
      elements: str
    warnings:
      description: What is likely mis-sized.
      type: list
      elements: str
    errors:
      description: What cannot work.
      type: list
      elements: str
    totals:
      description: The figures as numbers (worker_slots, slots_by_queue, schedulers, parallelism,
        db_connections, db_processes).
      type: dict
"""

# Processes of each component that open their own connection pool to the metadata database.
_DB_COMPONENTS = ("scheduler", "dag-processor", "triggerer")


def _int(entry: Mapping[str, Any], key: str) -> int:
    try:
        return int(entry[key])
    except (KeyError, TypeError, ValueError):
        raise AnsibleFilterError(
            f"capacity_report: {entry.get('host', '?')} has no whole number {key}"
        ) from None


def _db_processes(entry: Mapping[str, Any]) -> int:
    components = entry.get("components", [])
    count = sum(1 for name in _DB_COMPONENTS if name in components)
    if "api-server" in components:
        count += _int(entry, "api_workers")
    if "celery-worker" in components and entry.get("result_backend_db"):
        count += _int(entry, "worker_slots")
    return count


def _per_process(entry: Mapping[str, Any]) -> int:
    if not entry.get("pool_enabled", True):
        return 1
    return _int(entry, "pool_size") + _int(entry, "max_overflow")


def capacity_report(
    hosts: Sequence[Mapping[str, Any]],
    max_connections: int = 0,
    reserved_connections: int = 3,
    default_queue: str = "default",
) -> dict[str, Any]:
    if not isinstance(hosts, Sequence) or isinstance(hosts, (str, bytes)):
        raise AnsibleFilterError("capacity_report: the input must be a list of host entries")
    workers = [h for h in hosts if "celery-worker" in h.get("components", [])]
    schedulers = [h for h in hosts if "scheduler" in h.get("components", [])]
    slots_by_queue: dict[str, int] = {}
    for worker in workers:
        for queue in worker.get("queues", []):
            slots_by_queue[queue] = slots_by_queue.get(queue, 0) + _int(worker, "worker_slots")
    slots = sum(_int(w, "worker_slots") for w in workers)
    parallelism = sum(_int(s, "parallelism") for s in schedulers)
    per_dag = max((_int(h, "max_active_tasks_per_dag") for h in schedulers), default=0)
    processes = {str(h["host"]): _db_processes(h) for h in hosts}
    budget = sum(_db_processes(h) * _per_process(h) for h in hosts)

    queues = ", ".join(f"{q} {n}" for q, n in sorted(slots_by_queue.items())) or "none"
    lines = [
        f"worker slots: {slots} on {len(workers)} worker(s) (by queue: {queues})",
        f"scheduler parallelism: {parallelism} ({len(schedulers)} scheduler(s); [core] parallelism "
        "limits each scheduler, not the cluster)",
        f"max_active_tasks_per_dag: {per_dag}",
        f"metadata database connections, at most: {budget} from "
        f"{sum(processes.values())} process(es) that use a pool"
        + (
            f", of max_connections {max_connections}"
            if max_connections
            else " (max_connections unknown)"
        ),
    ]
    warnings: list[str] = []
    errors: list[str] = []
    if workers and slots_by_queue.get(default_queue, 0) == 0:
        errors.append(
            f"no worker consumes the queue {default_queue!r} that tasks go to by default: "
            "they would stay queued"
        )
    if schedulers and workers and parallelism > slots:
        warnings.append(
            f"the schedulers may run {parallelism} tasks at once but the workers have {slots} "
            f"slots: up to {parallelism - slots} tasks wait in the queue (and may reach "
            "task_queued_timeout); add worker slots or lower parallelism"
        )
    if schedulers and workers and parallelism < slots:
        warnings.append(
            f"the workers have {slots} slots but the schedulers run at most {parallelism} tasks at "
            f"once: {slots - parallelism} slots stay idle; raise parallelism (per scheduler) or "
            "lower worker concurrency"
        )
    if workers and per_dag > slots:
        warnings.append(
            f"max_active_tasks_per_dag {per_dag} is above the {slots} worker slots: one DAG alone "
            "can fill every worker and queue more"
        )
    usable = max_connections - reserved_connections
    if max_connections and budget > usable:
        errors.append(
            f"the processes may open {budget} metadata database connections but the database "
            f"allows {usable} ({max_connections} max_connections - {reserved_connections} "
            "reserved): lower sql_alchemy_pool_size/max_overflow or the API server workers, "
            "or raise max_connections (RDS: the parameter group)"
        )
    return {
        "lines": lines,
        "warnings": warnings,
        "errors": errors,
        "totals": {
            "worker_slots": slots,
            "slots_by_queue": slots_by_queue,
            "schedulers": len(schedulers),
            "parallelism": parallelism,
            "max_active_tasks_per_dag": per_dag,
            "db_connections": budget,
            "db_processes": processes,
            "max_connections": max_connections,
        },
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"capacity_report": capacity_report}
