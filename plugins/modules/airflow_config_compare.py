#!/usr/bin/python
"""Documentation of the airflow_config_compare action plugin (it runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: airflow_config_compare
short_description: Compare airflow_config_hash results across hosts and name what differs
version_added: 0.1.0
description:
  - "The second step of the cross-node check. M(dataops.airflow.airflow_config_hash) runs on
    every node and registers its result; this action, run once (C(run_once: true)), reads every
    host's registered result from C(hostvars), groups the hosts by hash for each scope and fails
    when any scope differs or any host could not be read."
  - On success the report has one line per scope, with the hash and the number of hosts that
    share it.
  - When a scope differs, its line gives the number of hosts that agree with the hash most hosts
    share and, for every other host, the keys on which it differs. One line per differing key
    then groups the hosts by variant, labelled A (the variant of the agreeing hosts), B, C, ...
    and C(not set). Sensitive keys are marked as secret. Values never appear, the action only
    ever sees keyed digests. See the examples for the wording.
  - A host whose hash task failed, was skipped or was unreachable is reported on a line of its
    own, with the reason (such as C(permission denied) and the path), and is not counted as
    agreeing, so the check fails.
  - Hosts hashed with different digest keys (or some with a key and some without) cannot be
    compared; the action says so instead of reporting every key as different.
  - "Per unit: hosts hashed with O(dataops.airflow.airflow_config_hash#module:units) or
    O(dataops.airflow.airflow_config_hash#module:unit_pattern) have one C(config:<unit>) scope per
    systemd unit beside the host-wide C(config) scope. C(config) is compared across all hosts,
    as without units. Each C(config:<unit>) scope is compared among the hosts that have that
    unit only (a unit present on some hosts is fine: masters run a scheduler, workers a Celery
    worker), so components with different environment files do not count as a difference.
    Reports name such a scope C(config <unit>), as in C(config airflow-celery-worker.service),
    and a differing host as in C(af-worker1 differs on celery.worker_concurrency); see the
    examples."
  - A unit whose running process is stale (started before its configuration or packages
    changed, running with another environment than its unit sets now, or with a unit file or
    drop-in edited since it started) makes the check fail, with one line per unit naming the
    host, the unit and the reasons (names, never values).
  - A unit whose configuration could not be read (an environment file it requires is missing
    or unreadable) is reported like a host that could not be read, naming the unit.
  - A host without any loaded unit has the host-wide C(config) scope only, which is compared
    with the other hosts'; when other hosts have units, the action says that it has none of
    them and the check fails.
  - Runs on the controller only and needs no connection to the hosts.
author:
  - dataops.airflow maintainers (@dataops)
options:
  result_var:
    description:
      - Name of the variable each host registered the M(dataops.airflow.airflow_config_hash)
        result in. Ignored when O(results) is given.
    type: str
    default: airflow_config_hash_result
  results:
    description:
      - Host name to registered result, instead of reading O(result_var) from C(hostvars).
    type: dict
  hosts:
    description:
      - Hosts to compare, in the order used for reports and to break ties.
      - Defaults to C(ansible_play_hosts_all), every host of the play, including those that
        failed or were unreachable earlier (they are reported as not read).
    type: list
    elements: str
  fail_on_difference:
    description:
      - Fail when a scope differs or a host could not be read. When false, the result still
        carries RV(consistent), RV(report) and RV(msg), for a later task to show or act on.
    type: bool
    default: true
  max_hosts_listed:
    description: How many host names a report line lists before C(+N more).
    type: int
    default: 8
  max_keys_listed:
    description: How many differing keys a scope lists before summarising the rest.
    type: int
    default: 10
attributes:
  action:
    support: full
    description: An action plugin; the comparison runs on the controller.
  async:
    support: none
    description: Runs on the controller, instantly.
  bypass_host_loop:
    support: none
    description: "Use C(run_once: true); without it every host repeats the same comparison."
  check_mode:
    support: full
    description: Reads registered results only; behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
  platform:
    support: full
    platforms: all
    description: Runs on the controller.
notes:
  - The O(result_var) results are the only input, so run the comparison in the same play as
    the hash task, after it.
seealso:
  - module: dataops.airflow.airflow_config_hash
"""

EXAMPLES = r"""
# A report, for 8 hosts of which worker-4 has another fernet_key and worker-2 could not be read:
#   config: 6 hosts agree (hmac-sha256:5c1f0e7ab3d2…); worker-4 differs on core.fernet_key
#     config core.fernet_key (secret): A = 6 hosts (master-1, master-2, worker-1, …); B = worker-4
#   packages: hmac-sha256:0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0 on 7 hosts
#   worker-2: could not be read (permission denied: /etc/airflow/airflow.cfg)
#
# Per unit (airflow_config_hash with unit_pattern), for 2 masters and 5 workers of which af-worker1
# has a drop-in setting AIRFLOW__CELERY__WORKER_CONCURRENCY=1 that its worker runs without:
#   config: hmac-sha256:9e8f7a6b5c4d3e2f1a0b9c8d7e6f5c1f0e7ab3d24f6e9a8b7c6d5e4f3a2b1c0d on 7 hosts
#   config airflow-celery-worker.service: 4 hosts agree (hmac-sha256:32da0c1e9b7f…); af-worker1
#     differs on celery.worker_concurrency
#     config airflow-celery-worker.service celery.worker_concurrency: A = 4 hosts (af-worker2,
#     af-worker3, af-worker4, af-worker5); B = af-worker1
#   config airflow-scheduler.service: hmac-sha256:5c1f0e7ab3d24f6e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c on
#     2 hosts
#   packages: hmac-sha256:0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0 on 7 hosts
#   af-worker1: airflow-celery-worker.service runs with stale settings (runs with another
#     environment than its unit sets: AIRFLOW__CELERY__WORKER_CONCURRENCY)

- name: Hash the configuration on every node
  dataops.airflow.airflow_config_hash:
    scopes: [config, packages]
    digest_key: "{{ run_digest_key }}"
  become: true
  register: airflow_config_hash_result
  failed_when: false  # a host that cannot be read is reported by the comparison

- name: Compare the nodes
  dataops.airflow.airflow_config_compare:
  run_once: true

- name: Compare without failing, then show the report
  dataops.airflow.airflow_config_compare:
    result_var: airflow_config_hash_result
    fail_on_difference: false
  run_once: true
  register: comparison

- name: Show the report
  ansible.builtin.debug:
    msg: "{{ comparison.report }}"
  run_once: true
"""

RETURN = r"""
consistent:
  description:
    - True when every host was read, every scope has one hash on all of them (a unit's scope on
      the hosts that have the unit) and no unit runs with stale settings.
  returned: always
  type: bool
  sample: false
report:
  description: The report, one line per list item (scopes first, then hosts not read).
  returned: always
  type: list
  elements: str
  sample:
    - "config: 7 hosts agree (hmac-sha256:5c1f0e7ab3d2…); worker-4 differs on core.fernet_key"
    - "  config core.fernet_key (secret): A = 7 hosts (master-1, master-2, worker-1, +4 more);
      B = worker-4"
    - "packages: hmac-sha256:0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c on
      8 hosts"
msg:
  description: The report as one text when the hosts differ, else a one-line summary.
  returned: always
  type: str
scopes:
  description:
    - Per scope, the hash groups and, when they differ, each differing key's variants as
      label to host list. Per-unit scopes are keyed C(config:<unit>).
  returned: always
  type: dict
  sample:
    config:
      hosts: 8
      groups:
        - hash: "hmac-sha256:5c1f..."
          hosts: [master-1, master-2, worker-1, worker-2, worker-3, worker-5, worker-6]
        - hash: "hmac-sha256:77aa..."
          hosts: [worker-4]
      differing_keys:
        core.fernet_key:
          A: [master-1, master-2, worker-1, worker-2, worker-3, worker-5, worker-6]
          B: [worker-4]
      missing: []
unreadable:
  description: Host name to the reason it could not be read.
  returned: always
  type: dict
  sample:
    worker-2: "permission denied: /etc/airflow/airflow.cfg"
unreadable_units:
  description:
    - Host name to unit to the reason its configuration could not be read (hosts hashed per
      unit).
  returned: always
  type: dict
  sample:
    af-worker3:
      airflow-celery-worker.service: "/etc/airflow/worker.env: permission denied"
stale:
  description:
    - Host name to unit to the reasons its running process is stale (names of variables and
      files, never values). Empty when no unit is stale.
  returned: always
  type: dict
  sample:
    af-worker1:
      airflow-celery-worker.service:
        - "runs with another environment than its unit sets: AIRFLOW__CELERY__WORKER_CONCURRENCY"
hosts:
  description: Number of hosts compared.
  returned: always
  type: int
  sample: 8
"""
