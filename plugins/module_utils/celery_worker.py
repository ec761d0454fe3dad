"""Ask one Celery worker of Airflow what it runs, and drain it (stop consuming, wait until idle).

Used by the ``celery_worker`` module on a worker node: standard library only, Python 3.9+.

Why a helper process: Celery's control API (the one ``airflow celery remove-all-queues`` and
``list-workers`` use) lives in the Airflow virtualenv, not in the interpreter Ansible runs
modules with. The module starts the virtualenv's Python once per call, as the airflow user,
in a new session without a terminal, with the node's environment files loaded (the broker URL
is in a root-only file): the secrets travel in the environment, never on a command line. The
helper reads its request as JSON on stdin, polls the worker itself (one process for the whole
drain, not one CLI start per poll), and prints one JSON object as its last line of output.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import (
    ReadError,
    read_env_file,
)

CELERY_APP_MODULE = "airflow.providers.celery.executors.celery_executor"
# What the helper process inherits besides the environment files: enough to run, nothing of
# Ansible's own environment.
BASE_ENVIRONMENT = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
BASE_ENVIRONMENT["LANG"] = "C.UTF-8"

# Runs in the Airflow virtualenv, on every Python that Airflow supports. Its answer is turned
# into the module's result by ``summarize``.
HELPER = r"""
import json, sys, time


def finish(**result):
    print(json.dumps(result))
    sys.exit(0)


def main():
    request = json.load(sys.stdin)
    from airflow.providers.celery.executors.celery_executor import app

    name, control, wait = request["name"], app.control, request["reply_timeout"]

    def ask(method):
        reply = getattr(control.inspect(destination=[name], timeout=wait), method)()
        return None if not reply or name not in reply else reply[name]

    queues = ask("active_queues")
    if queues is None:
        finish(error="no_reply")
    names = sorted({queue["name"] for queue in queues})
    if request["action"] == "current" or request["check_mode"]:
        active, reserved = ask("active") or [], ask("reserved") or []
        finish(queues=names, active=len(active), reserved=len(reserved), waited=0.0,
               seen=sorted({task["id"] for task in active + reserved}), timed_out=False)

    for queue in names:
        control.cancel_consumer(queue, destination=[name], reply=True, timeout=wait)
    start, seen, silent_since = time.monotonic(), set(), None
    while True:
        active, reserved = ask("active"), ask("reserved")
        now = time.monotonic()
        if active is None or reserved is None:
            # a worker too busy to answer once is not gone; one silent for a minute is
            silent_since = silent_since or now
            if now - silent_since > 60:
                finish(error="no_reply", queues=names, waited=now - start, seen=sorted(seen))
        else:
            silent_since = None
            seen.update(task["id"] for task in active + reserved)
            if not active and not reserved:
                finish(queues=names, active=0, reserved=0, waited=now - start,
                       seen=sorted(seen), timed_out=False)
        if now - start >= request["timeout"]:
            if request["restore_on_timeout"]:
                for queue in names:
                    control.add_consumer(queue, destination=[name], reply=True, timeout=wait)
            finish(queues=names, active=len(active or []), reserved=len(reserved or []),
                   waited=now - start, seen=sorted(seen), timed_out=True,
                   restored=request["restore_on_timeout"])
        time.sleep(request["poll_interval"])


try:  # what Airflow's own celery commands run under: the providers' configuration defaults
    from airflow.utils.providers_configuration_loader import providers_configuration_loaded
except ImportError:
    providers_configuration_loaded = None
(providers_configuration_loaded(main) if providers_configuration_loaded else main)()
"""

Runner = Callable[[Sequence[str], Mapping[str, str], str, float], tuple[int, str, str]]


class WorkerError(Exception):
    """A failure whose message is safe to show (it never holds the environment's values)."""


def helper_environment(env_files: Sequence[str]) -> dict[str, str]:
    """The base environment plus every environment file, later files winning (as systemd)."""
    environ = dict(BASE_ENVIRONMENT)
    for path in env_files:
        try:
            variables, _dropped = read_env_file(path)
        except ReadError as error:
            raise WorkerError(f"cannot read the environment file {path}: {error}") from None
        environ.update(variables)
    return environ


def helper_command(venv: str, user: str) -> list[str]:
    """The virtualenv's Python, as ``user``; runuser keeps the environment it is given."""
    return ["runuser", "-u", user, "--", f"{venv.rstrip('/')}/bin/python", "-c", HELPER]


def build_request(params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
    keys = ("name", "timeout", "poll_interval", "reply_timeout", "restore_on_timeout")
    request = {key: params[key] for key in keys}
    request["action"] = "drain" if params["state"] == "drained" else "current"
    request["check_mode"] = check_mode
    return request


def parse_reply(rc: int, stdout: str, stderr: str) -> dict[str, Any]:
    """The helper's JSON object: the last line of stdout that is one."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                reply = json.loads(line)
            except ValueError:
                continue
            if isinstance(reply, dict):
                return reply
    tail = " | ".join(stderr.strip().splitlines()[-3:])
    raise WorkerError(
        f"the Celery helper failed (rc {rc}) without an answer: {tail or 'no output'}"
    )


def summarize(
    reply: Mapping[str, Any], params: Mapping[str, Any], check_mode: bool
) -> dict[str, Any]:
    """The module's result; raises WorkerError for an answer that is a failure."""
    name = params["name"]
    if reply.get("error") == "no_reply":
        raise WorkerError(
            f"{name} did not answer within {params['reply_timeout']} s: is its unit running, and "
            "is this its Celery name (celery@ and the host's node name by default)?"
        )
    queues = list(reply.get("queues", []))
    result: dict[str, Any] = {
        "name": name,
        "queues": queues,
        "active": int(reply.get("active", 0)),
        "reserved": int(reply.get("reserved", 0)),
        "tasks_waited_for": len(reply.get("seen", [])),
        "waited": round(float(reply.get("waited", 0.0)), 1),
        "timed_out": bool(reply.get("timed_out", False)),
        "changed": False,
    }
    idle = result["active"] == 0 and result["reserved"] == 0
    if params["state"] == "drained" and not check_mode:
        # Cancelling the consumers is the change; a worker given its queues back is as it was.
        result["drained"] = not result["timed_out"]
        result["changed"] = bool(queues) and not (result["timed_out"] and reply.get("restored"))
    else:
        result["drained"] = idle and not queues
        result["changed"] = params["state"] == "drained" and bool(queues)
    return result


def timeout_message(result: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    again = (
        f"; it consumes {', '.join(result['queues'])} again"
        if params["restore_on_timeout"] and result["queues"]
        else "; it no longer consumes any queue"
    )
    return (
        f"{result['name']} still runs {result['active']} task(s) and holds {result['reserved']} "
        f"reserved after {params['timeout']} s{again}. Nothing was killed."
    )


def subprocess_runner(
    argv: Sequence[str], env: Mapping[str, str], stdin: str, timeout: float
) -> tuple[int, str, str]:
    """Run argv in a new session (no controlling terminal), the request on stdin."""
    try:
        done = subprocess.run(  # argv is built above, never by a shell
            list(argv),
            input=stdin,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise WorkerError(f"the Celery helper did not finish within {timeout:.0f} s") from None
    except OSError as error:
        raise WorkerError(f"cannot start the Celery helper: {error.strerror}") from None
    return done.returncode, done.stdout, done.stderr


def query_worker(
    params: Mapping[str, Any], check_mode: bool, runner: Runner = subprocess_runner
) -> dict[str, Any]:
    """Run the helper for ``params`` (the module's options) and return the module's result."""
    environ = helper_environment(params["env_files"])
    request = build_request(params, check_mode)
    # the helper's own deadline, plus time to start Airflow and to restore the queues
    budget = float(params["timeout"]) + 4 * float(params["reply_timeout"]) + 180.0
    if request["action"] == "current" or check_mode:
        budget = 6 * float(params["reply_timeout"]) + 180.0
    rc, stdout, stderr = runner(
        helper_command(params["venv"], params["user"]), environ, json.dumps(request), budget
    )
    return summarize(parse_reply(rc, stdout, stderr), params, check_mode)
