#!/usr/bin/python
"""Module: what one Celery worker of Airflow runs, and draining it before a restart."""

from __future__ import annotations

DOCUMENTATION = r"""
module: celery_worker
short_description: Read or drain one Celery worker of Airflow (stop consuming, wait until idle)
version_added: 0.3.0
description:
  - Asks the Celery worker O(name), through the broker, which queues it consumes and how many
    tasks it runs (C(inspect active)) and holds prefetched (C(inspect reserved)).
  - With O(state=drained), makes it stop consuming every queue (what
    C(airflow celery remove-all-queues -H <name>) does), then waits until it neither runs nor
    holds a task. The worker process keeps running, so its running tasks finish normally; after
    that, restarting it loses nothing.
  - "When O(timeout) passes first, the module fails (unless O(fail_on_timeout=false)) and, with
    O(restore_on_timeout), gives the worker its queues back: nothing is killed, and the worker
    goes on working."
  - "How: the Celery control API lives in the Airflow virtualenv, so the module starts that
    virtualenv's Python (O(venv)) once, as O(user), in a new session without a terminal, with the
    node's environment files (O(env_files)) loaded: the broker URL stays out of every command
    line. That process polls the worker every O(poll_interval) seconds."
options:
  name:
    description: The worker's Celery name, C(celery@) and the host's node name by default.
    type: str
    required: true
  state:
    description:
      - C(current) only reads. C(drained) stops consumption and waits until the worker is idle.
    type: str
    choices: [current, drained]
    default: current
  timeout:
    description: Seconds to wait for the running and reserved tasks to finish.
    type: int
    default: 3600
  poll_interval:
    description: Seconds between two questions to the worker.
    type: int
    default: 5
  reply_timeout:
    description:
      - Seconds to wait for each answer. A worker that does not answer at all fails the module;
        one that stops answering while it drains is waited for up to a minute.
    type: float
    default: 5.0
  restore_on_timeout:
    description: On timeout, make the worker consume the queues it consumed before again.
    type: bool
    default: true
  fail_on_timeout:
    description:
      - Fail when the worker is not idle within O(timeout). With C(false), return
        RV(drained=false) instead (a caller that restarts the worker anyway, whose running tasks
        then get the unit's stop timeout to finish).
    type: bool
    default: true
  venv:
    description: The Airflow virtualenv.
    type: path
    default: /opt/airflow
  user:
    description: The user the helper process runs as (Airflow's).
    type: str
    default: airflow
  env_files:
    description:
      - Environment files loaded, in this order, into the helper's environment (the worker's own
        C(EnvironmentFile=) list, that is its settings and its broker URL).
    type: list
    elements: path
    default: [/etc/airflow/airflow.env, /etc/airflow/worker-secrets.env]
attributes:
  check_mode:
    support: full
    description:
      - With O(state=drained), reports the change (the worker consumes queues) without cancelling
        anything or waiting.
  diff_mode:
    support: none
    description: There is no file to show a diff of.
  platform:
    support: full
    platforms: posix
    description: A worker node set up by this collection's roles (C(runuser), the virtualenv).
notes:
  - Run it as root (C(become)) on the worker node; the environment files are root's.
  - The values of the environment files are never returned or shown.
seealso:
  - module: dataops.airflow.airflow_units
author:
  - dataops.airflow maintainers (@dataops)
"""

EXAMPLES = r"""
- name: Drain the worker before its restart
  dataops.airflow.celery_worker:
    name: "celery@{{ ansible_facts['nodename'] }}"
    state: drained
    timeout: 1800
  become: true
  register: drain

- name: Say how long it took
  ansible.builtin.debug:
    msg: "drained in {{ drain.waited }} s, {{ drain.tasks_waited_for }} tasks waited for"
"""

RETURN = r"""
name:
  description: The worker's Celery name.
  returned: success
  type: str
  sample: celery@ip-10-0-1-23
queues:
  description: The queues the worker consumed when the module started.
  returned: success
  type: list
  elements: str
  sample: [default]
active:
  description: Tasks the worker runs at the end.
  returned: success
  type: int
  sample: 0
reserved:
  description: Tasks the worker holds prefetched at the end.
  returned: success
  type: int
  sample: 0
tasks_waited_for:
  description: Distinct tasks seen running or reserved while the module waited.
  returned: success
  type: int
  sample: 3
waited:
  description: Seconds waited for the worker to become idle.
  returned: success
  type: float
  sample: 41.2
timed_out:
  description: Whether O(timeout) passed before the worker was idle.
  returned: success
  type: bool
  sample: false
drained:
  description:
    - Whether the worker consumes no queue and runs no task now (with O(state=drained) not in
      check mode, whether the drain finished).
  returned: success
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dataops.airflow.plugins.module_utils.celery_worker import (
    WorkerError,
    query_worker,
    timeout_message,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["current", "drained"], "default": "current"},
            "timeout": {"type": "int", "default": 3600},
            "poll_interval": {"type": "int", "default": 5},
            "reply_timeout": {"type": "float", "default": 5.0},
            "restore_on_timeout": {"type": "bool", "default": True},
            "fail_on_timeout": {"type": "bool", "default": True},
            "venv": {"type": "path", "default": "/opt/airflow"},
            "user": {"type": "str", "default": "airflow"},
            "env_files": {
                "type": "list",
                "elements": "path",
                "default": ["/etc/airflow/airflow.env", "/etc/airflow/worker-secrets.env"],
            },
        },
        supports_check_mode=True,
    )
    params = module.params
    for option in ("timeout", "poll_interval"):
        if params[option] < 1:
            module.fail_json(msg=f"{option} must be at least 1 (seconds)", changed=False)
    if params["reply_timeout"] <= 0:
        module.fail_json(msg="reply_timeout must be more than 0 (seconds)", changed=False)
    try:
        result = query_worker(params, module.check_mode)
    except WorkerError as exc:
        module.fail_json(msg=str(exc), changed=False)
    if result["timed_out"] and params["fail_on_timeout"]:
        module.fail_json(msg=timeout_message(result, params), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
