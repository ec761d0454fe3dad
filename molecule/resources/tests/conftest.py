"""Fixtures of the scenarios' tests (airflow_helpers.py): the molecule inventory's hosts, by group,
and the REST API of the first master."""

from airflow_helpers import api, inventory_vars, master, masters, worker, workers

__all__ = ["api", "inventory_vars", "master", "masters", "worker", "workers"]
