"""Draining a Celery worker: the helper's polling and the module's reading of its answer.

The helper script runs here against a stand-in for Airflow's Celery app (a fake
``airflow.providers.celery.executors.celery_executor`` on PYTHONPATH) whose worker finishes a
task per poll; the real worker is drained in the molecule cluster scenario.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.dataops.airflow.plugins.module_utils.celery_worker import (
    HELPER,
    WorkerError,
    build_request,
    helper_command,
    helper_environment,
    parse_reply,
    query_worker,
    summarize,
    timeout_message,
)

NAME = "celery@worker-1"

FAKE_APP = """
import json, os

STATE = os.environ["FAKE_CELERY_STATE"]


def load():
    with open(STATE) as handle:
        return json.load(handle)


def save(state):
    with open(STATE, "w") as handle:
        json.dump(state, handle)


class Inspect:
    def __init__(self, destination, timeout):
        self.name = destination[0]

    def _reply(self, value):
        state = load()
        return None if state.get("silent") or self.name != state["name"] else {self.name: value}

    def active_queues(self):
        return self._reply([{"name": q} for q in load()["queues"]])

    def active(self):
        state = load()
        state["polls"] = state.get("polls", 0) + 1
        if state["polls"] > 1 and state["active"] and not state.get("stuck"):
            state["active"].pop()  # one task finishes between two polls
        save(state)
        return self._reply([{"id": i} for i in state["active"]])

    def reserved(self):
        return self._reply([{"id": i} for i in load()["reserved"]])


class Control:
    def inspect(self, destination, timeout):
        return Inspect(destination, timeout)

    def cancel_consumer(self, queue, destination, reply, timeout):
        state = load()
        state["queues"].remove(queue)
        state.setdefault("log", []).append("cancel " + queue)
        save(state)

    def add_consumer(self, queue, destination, reply, timeout):
        state = load()
        state["queues"].append(queue)
        state.setdefault("log", []).append("add " + queue)
        save(state)


class App:
    control = Control()


app = App()
"""


def _params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": NAME,
        "state": "drained",
        "timeout": 30,
        "poll_interval": 1,
        "reply_timeout": 1.0,
        "restore_on_timeout": True,
        "fail_on_timeout": True,
        "venv": "/opt/airflow",
        "user": "airflow",
        "env_files": [],
    }
    params.update(overrides)
    return params


@pytest.fixture
def fake_worker(tmp_path: Path) -> Any:
    package = tmp_path / "fake" / "airflow" / "providers" / "celery" / "executors"
    package.mkdir(parents=True)
    for folder in [package, *package.parents][:4]:
        (folder / "__init__.py").write_text("")
    (package / "celery_executor.py").write_text(FAKE_APP)
    state_file = tmp_path / "state.json"

    def run(
        state: dict[str, Any], request: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        state_file.write_text(json.dumps({"name": NAME, **state}))
        env = {
            **os.environ,
            "PYTHONPATH": str(tmp_path / "fake"),
            "FAKE_CELERY_STATE": str(state_file),
        }
        done = subprocess.run(
            [sys.executable, "-c", HELPER],
            input=json.dumps(request),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return parse_reply(done.returncode, done.stdout, done.stderr), json.loads(
            state_file.read_text()
        )

    return run


def test_the_helper_stops_consumption_then_waits_until_no_task_is_left(fake_worker: Any) -> None:
    reply, state = fake_worker(
        {"queues": ["default", "high"], "active": ["a", "b"], "reserved": []},
        build_request(_params(), check_mode=False),
    )
    assert state["log"] == ["cancel default", "cancel high"]
    assert state["queues"] == []
    assert reply["timed_out"] is False
    assert (reply["active"], reply["reserved"], reply["seen"]) == (0, 0, ["a", "b"])
    result = summarize(reply, _params(), check_mode=False)
    assert result["drained"] and result["changed"] and result["tasks_waited_for"] == 2


def test_on_timeout_the_helper_gives_the_queues_back_and_kills_nothing(fake_worker: Any) -> None:
    params = _params(timeout=1)
    reply, state = fake_worker(
        {"queues": ["default"], "active": ["a"], "reserved": ["b"], "stuck": True},
        build_request(params, check_mode=False),
    )
    assert state["log"] == ["cancel default", "add default"]
    assert state["queues"] == ["default"] and state["active"] == ["a"]
    result = summarize(reply, params, check_mode=False)
    assert result["timed_out"] and not result["drained"] and not result["changed"]
    message = timeout_message(result, params)
    assert "still runs 1 task(s) and holds 1 reserved after 1 s" in message
    assert "consumes default again" in message and "Nothing was killed" in message


def test_without_restore_a_timed_out_worker_stays_without_queues(fake_worker: Any) -> None:
    params = _params(timeout=1, restore_on_timeout=False)
    reply, state = fake_worker(
        {"queues": ["default"], "active": ["a"], "reserved": [], "stuck": True},
        build_request(params, check_mode=False),
    )
    assert state["queues"] == []
    result = summarize(reply, params, check_mode=False)
    assert result["changed"] and not result["drained"]
    assert "no longer consumes any queue" in timeout_message(result, params)


def test_check_mode_and_current_only_read(fake_worker: Any) -> None:
    for params, check_mode in ((_params(), True), (_params(state="current"), False)):
        reply, state = fake_worker(
            {"queues": ["default"], "active": ["a"], "reserved": []},
            build_request(params, check_mode),
        )
        assert "log" not in state and state["queues"] == ["default"]
        result = summarize(reply, params, check_mode)
        assert result["queues"] == ["default"] and result["active"] == 1
        assert not result["drained"]
        assert result["changed"] is (params["state"] == "drained")


def test_a_worker_that_does_not_answer_is_named(fake_worker: Any) -> None:
    reply, _state = fake_worker(
        {"queues": ["default"], "active": [], "reserved": [], "silent": True},
        build_request(_params(), check_mode=False),
    )
    with pytest.raises(WorkerError, match=f"{NAME} did not answer within 1.0 s"):
        summarize(reply, _params(), check_mode=False)


def test_an_idle_worker_without_queues_is_already_drained() -> None:
    reply = {"queues": [], "active": 0, "reserved": 0, "seen": [], "waited": 0.0}
    result = summarize(reply, _params(), check_mode=False)
    assert result["drained"] and not result["changed"]


def test_parse_reply_takes_the_last_json_line_and_names_a_crash() -> None:
    out = 'warning: something\n{"queues": []}\nnot json\n'
    assert parse_reply(0, out, "") == {"queues": []}
    with pytest.raises(WorkerError, match=r"rc 1.*ModuleNotFoundError: airflow"):
        parse_reply(1, "", "Traceback\nModuleNotFoundError: airflow\n")


def test_environment_files_are_loaded_in_order_and_errors_hold_no_value(tmp_path: Path) -> None:
    first = tmp_path / "airflow.env"
    first.write_text("AIRFLOW_HOME='/var/lib/airflow'\nAIRFLOW__CORE__PARALLELISM='8'\n")
    second = tmp_path / "worker-secrets.env"
    second.write_text(
        "AIRFLOW__CELERY__BROKER_URL='redis://:pw@redis:6379/0'\nAIRFLOW__CORE__PARALLELISM='9'\n"
    )
    env = helper_environment([str(first), str(second)])
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:pw@redis:6379/0"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "9" and env["LANG"] == "C.UTF-8"
    with pytest.raises(WorkerError, match="cannot read the environment file"):
        helper_environment([str(tmp_path / "missing.env")])


def test_query_worker_keeps_secrets_off_the_command_line(tmp_path: Path) -> None:
    env_file = tmp_path / "worker-secrets.env"
    env_file.write_text("AIRFLOW__CELERY__BROKER_URL='redis://:s3cret-pw@redis:6379/0'\n")
    calls: list[tuple[Sequence[str], Mapping[str, str], str, float]] = []

    def runner(
        argv: Sequence[str], env: Mapping[str, str], stdin: str, timeout: float
    ) -> tuple[int, str, str]:
        calls.append((argv, env, stdin, timeout))
        answer = {"queues": ["default"], "active": 0, "reserved": 0, "seen": ["x"], "waited": 3.04}
        return 0, json.dumps(answer) + "\n", ""

    params = _params(env_files=[str(env_file)], timeout=600, reply_timeout=5.0)
    result = query_worker(params, check_mode=False, runner=runner)
    argv, env, stdin, timeout = calls[0]
    assert list(argv[:5]) == helper_command("/opt/airflow/", "airflow")[:5]
    assert argv[4] == "/opt/airflow/bin/python"
    assert not any("s3cret" in part for part in argv) and "s3cret" not in stdin
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert json.loads(stdin)["action"] == "drain" and timeout >= 600
    assert result["waited"] == 3.0 and result["tasks_waited_for"] == 1 and result["drained"]
