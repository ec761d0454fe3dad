"""The AWX job templates (awx/objects.yml), each run the way AWX runs a job: ansible-runner on a
private data dir with the project, the synced inventory, the survey's answers as extra vars,
the template's job_timeout and the credentials as environment (tests/awx_job.py). Every
template succeeds on the converged cluster (Rotate fernet key ran in the side-effect step,
through the same runner), and an out-of-range survey answer is refused by the playbook's
checks, naming the variable, before any worker is drained. The default scenario only: one
node of each kind is enough, and the cluster scenario's time is its drills'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from airflow_helpers import AWX_JOB_RECORD

pytestmark = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME") != "default",
    reason="the AWX jobs run in the default scenario",
)

PROJECT = os.environ["MOLECULE_PROJECT_DIRECTORY"]
EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]


def run_job(template: str, *answers: str, expect: str = "successful") -> dict[str, Any]:
    command = [
        sys.executable,
        os.path.join(PROJECT, "tests", "awx_job.py"),
        "--template",
        template,
        "--inventory",
        os.environ["MOLECULE_INVENTORY_FILE"],
        "--work",
        os.path.join(EPHEMERAL, "awx-jobs"),
        "--expect",
        expect,
        "--record",
        AWX_JOB_RECORD,
        # the job's output goes to the scenario's log too, which is searched for secrets
        "--env",
        f"ANSIBLE_LOG_PATH={os.path.join(EPHEMERAL, 'ansible.log')}",
    ]
    for answer in answers:
        command += ["--answer", answer]
    run = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    assert run.stdout.strip(), run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0, (
        f"{template}: {result['status']} (rc {result['rc']}): {result['output_tail'][-3000:]}"
    )
    return result


def test_deploy_cluster_succeeds_and_changes_nothing() -> None:
    result = run_job("Deploy cluster")
    assert result["changed"] == {}, f"a second deploy changed {result['changed']}"
    assert result["failed"] == {}


def test_rolling_worker_restart_succeeds_with_the_survey_defaults() -> None:
    result = run_job("Rolling worker restart")
    assert result["changed"], "no worker was restarted"


@pytest.mark.parametrize("template", ["Validate consistency", "Capacity report"])
def test_read_only_templates_succeed_and_change_nothing(template: str) -> None:
    assert run_job(template)["changed"] == {}


def test_rotate_fernet_key_succeeded_in_the_side_effect_step() -> None:
    with open(AWX_JOB_RECORD, encoding="utf-8") as handle:
        runs = [json.loads(line) for line in handle]
    (rotation,) = [r for r in runs if r["template"] == "Rotate fernet key"]
    assert rotation["status"] == "successful"


def test_an_out_of_range_survey_answer_is_refused_before_any_drain() -> None:
    result = run_job("Rolling worker restart", "worker_restart_batch_size=0", expect="failed")
    assert result["changed"] == {}, "a refused restart changed something"
    assert (
        "worker_restart_batch_size must be a whole number of at least 1" in result["output_tail"]
    ), result["output_tail"][-2000:]
