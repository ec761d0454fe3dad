"""Fixtures of the scenarios' tests (airflow_helpers.py): the molecule inventory's hosts, by group,
and the REST API of the first master. After the tests, the AWX jobs the scenario ran (side
effect and verify, tests/awx_job.py --record) are listed, one line each, in the log."""

from __future__ import annotations

import json
import os
from typing import Any

from airflow_helpers import (
    AWX_JOB_RECORD,
    api,
    inventory_vars,
    master,
    masters,
    worker,
    workers,
)

__all__ = ["api", "inventory_vars", "master", "masters", "worker", "workers"]


def awx_job_lines(path: str) -> list[str]:
    """One line per recorded job: template, status, rc, seconds and what it changed where."""
    if not os.path.exists(path):
        return []
    lines = []
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            job = json.loads(raw)
            changed = ", ".join(f"{host}: {n}" for host, n in sorted(job["changed"].items()))
            answers = " ".join(job.get("answers", []))
            lines.append(
                f"{job['template']}{f' [{answers}]' if answers else ''} ({job['playbook']}):"
                f" {job['status']}, rc {job['rc']},"
                f" {job['seconds']} s, changed: {changed or 'none'}"
            )
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = awx_job_lines(AWX_JOB_RECORD)
    if lines:
        terminalreporter.section("AWX jobs run by ansible-runner")
        for line in lines:
            terminalreporter.write_line(line)
