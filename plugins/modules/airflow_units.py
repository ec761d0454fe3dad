#!/usr/bin/python
"""Module: systemd units of Airflow, and whether their running processes are stale."""

from __future__ import annotations

DOCUMENTATION = r"""
module: airflow_units
short_description: Read Airflow's systemd units and find processes that run with stale inputs
version_added: 0.2.0
description:
  - Reads, in one round trip, the state of each unit (C(systemctl show)) and the fingerprint of
    the files its process reads at start-up (O(inputs)), and tells for every running unit whether
    its process is stale.
  - "A process is stale when the C(DATAOPS_AIRFLOW_INPUTS) variable it was started with differs
    from the fingerprint of its inputs now (O(inputs_by_unit), O(inputs) or the unit's own
    C(DATAOPS_AIRFLOW_INPUT_FILES)), when its C(AIRFLOW__*), C(AIRFLOW_HOME) or
    C(AIRFLOW_CONFIG) variables differ from what its unit sets now (C(Environment=), drop-ins
    included, and each C(EnvironmentFile=)), or when its unit file or a drop-in changed after it
    started."
  - "The environment a process was started with is read from the record its unit's
    C(ExecStartPre=+) line writes at every start (C(env -0) to C(<state_dir>/<unit>.environ),
    see O(state_dir)), not from C(/proc/PID/environ): setproctitle, which Airflow and Celery
    use, overwrites that memory. A running process without a record, or whose record was
    written more than a minute before the process started (by an earlier start), is stale."
  - "Why: the systemd_services role restarts every stale unit on each run. Whether a restart is
    due is read from the node itself, so a run that was interrupted after writing a file and
    before restarting, or a run with C(--tags airflow_config), cannot leave old processes running."
  - Only names and fingerprints are returned, never the values of the environment.
  - "Fingerprints are HMAC-SHA256, keyed with a random key of this host (O(fingerprint_key_file)).
    Why: the fingerprint is public (the unit file is world-readable, and any local user can see
    it with C(systemctl show -p Environment)), but the files it covers are secret, for example an
    environment file whose only unknown is a Redis password. With an unkeyed hash, anyone could
    test guesses of that password offline; without the key, which only root can read, the
    fingerprint reveals nothing."
options:
  units:
    description: Unit names, for example C(airflow-scheduler.service).
    type: list
    elements: str
    required: true
  inputs:
    description:
      - Files whose content the processes read at start-up, in a fixed order. Their fingerprint is
        HMAC-SHA256, keyed with the key in O(fingerprint_key_file), over the SHA-1 of each file
        (C(missing) for an absent file), joined by spaces.
      - Without it (and without O(inputs_by_unit)), a unit's own C(DATAOPS_AIRFLOW_INPUT_FILES)
        variable names the files, if it sets one; else staleness only compares the environment.
    type: list
    elements: path
  inputs_by_unit:
    description:
      - Like O(inputs), one list of files per unit, keyed by unit name (units whose processes
        read different files, such as a worker that gets no control-plane secrets).
      - Wins over O(inputs) for the units it names.
    type: dict
    default: {}
  state_dir:
    description:
      - The directory where each unit's C(ExecStartPre=+) line records the environment of its
        current start, as C(<unit>.environ). The systemd_services role writes its units so.
    type: path
    default: /run/dataops-airflow
  fingerprint_key_file:
    description:
      - The file holding this host's key of the fingerprints (the hexadecimal digits of 32
        random bytes). Created when missing, mode C(0600) in a directory created C(0700), owned
        by the user the module runs as (root, with C(become)); not in check mode, where a
        missing key is replaced by a random one for that run only, so that every unit with a
        fingerprint counts as stale, as it does on a first run.
      - "Creating it is not reported as a change (C(changed) stays false): it is bookkeeping of
        this module, not configuration drift."
      - The module fails, naming the reason, when the file is a symbolic link, not a regular
        file, owned by another user, or accessible to group or others (mode 0600 or stricter
        needed).
      - Every unit whose fingerprint was written with another key (or, by an earlier version,
        without a key) counts as stale once, so removing this file restarts the units at the
        next run.
    type: path
    default: /var/lib/dataops-airflow/fingerprint.key
attributes:
  check_mode:
    support: full
    description:
      - The module only reads the units; in check mode it does not create a missing
        O(fingerprint_key_file) either.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
  platform:
    support: full
    platforms: posix
    description: Targets with a Python 3.9+ interpreter; only the standard library is used.
notes:
  - Run it as root (C(become)); another user cannot read the start records, which hold
    secrets, nor the fingerprint key.
  - C(changed) is always false, also when the module creates O(fingerprint_key_file).
seealso:
  - module: dataops.airflow.airflow_config_hash
author:
  - dataops.airflow maintainers (@dataops)
"""

EXAMPLES = r"""
- name: Read the units and the fingerprint of what they run with
  dataops.airflow.airflow_units:
    units: [airflow-scheduler.service, airflow-celery-worker.service]
    inputs: [/etc/airflow/airflow.cfg, /etc/airflow/airflow.env, /opt/airflow/requirements.lock]
  become: true
  register: airflow_units

- name: Restart the units whose processes are stale
  ansible.builtin.systemd_service:
    name: "{{ item }}"
    state: restarted
  loop: "{{ airflow_units.stale }}"
"""

RETURN = r"""
inputs_fingerprint:
  description:
    - Fingerprint of O(inputs) now (keyed, see O(fingerprint_key_file)); null without O(inputs).
  returned: success
  type: str
  sample: 0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c
fingerprints:
  description:
    - Each unit's fingerprint of its inputs now (O(inputs_by_unit), else O(inputs)), keyed by
      the name given; null for a unit neither names files for.
  returned: success
  type: dict
  sample:
    airflow-scheduler.service: 0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c
stale:
  description: The running units whose processes are stale.
  returned: success
  type: list
  elements: str
  sample: [airflow-celery-worker.service]
units:
  description: Each unit's state, keyed by the name given.
  returned: success
  type: dict
  contains:
    load_state:
      description: C(loaded), C(not-found)...
      type: str
    active_state:
      description: C(active), C(inactive), C(failed), C(activating)...
      type: str
    sub_state:
      description: C(running), C(dead), C(auto-restart)...
      type: str
    unit_file_state:
      description: C(enabled), C(disabled)...
      type: str
    main_pid:
      description: PID of the main process; 0 when none runs.
      type: int
    need_daemon_reload:
      description: The unit file or a drop-in changed since systemd last read it.
      type: bool
    configured_inputs:
      description: The fingerprint the unit sets for its next start.
      type: str
    running_inputs:
      description: The fingerprint the running process was started with.
      type: str
    environment_files:
      description: The unit's C(EnvironmentFile=) paths, in order.
      type: list
      elements: str
    environment_problems:
      description: Environment files that cannot be read (names and reasons only).
      type: list
      elements: str
    drop_ins:
      description: Drop-in files of the unit.
      type: list
      elements: str
    stale:
      description: Whether the running process is stale.
      type: bool
    stale_reasons:
      description: Why (names of variables, never values).
      type: list
      elements: str
  sample:
    airflow-scheduler.service:
      load_state: loaded
      active_state: active
      sub_state: running
      unit_file_state: enabled
      main_pid: 4242
      need_daemon_reload: false
      configured_inputs: 0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c
      running_inputs: 0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c
      environment_files: [/etc/airflow/airflow.env, /etc/airflow/secrets.env]
      environment_problems: []
      drop_ins: []
      stale: false
      stale_reasons: []
"""

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.validation import check_type_path

from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import ReadError
from ansible_collections.dataops.airflow.plugins.module_utils.units import (
    FINGERPRINT_KEY_BYTES,
    STATE_DIR,
    UNIT_STATE_ARGUMENT_SPEC,
    inputs_fingerprint,
    load_fingerprint_key,
    read_units,
    systemctl_runner,
)


def read_units_by_inputs(
    units: list[str],
    inputs: list[str] | None,
    inputs_by_unit: dict[str, list[str]],
    run: Any,
    state_dir: str = STATE_DIR,
    key: bytes | None = None,
) -> dict[str, Any]:
    """read_units once per distinct input list; one merged result in the order of ``units``.

    ``key`` keys every fingerprint (see ``load_fingerprint_key``).
    """
    groups: dict[tuple[str, ...] | None, list[str]] = {}
    for unit in units:
        files = inputs_by_unit.get(unit, inputs)
        groups.setdefault(tuple(files) if files is not None else None, []).append(unit)
    states: dict[str, Any] = {}
    fingerprints: dict[str, str | None] = {}
    for files, members in groups.items():
        result = read_units(
            members, run, list(files) if files is not None else None, state_dir=state_dir, key=key
        )
        states.update(result["units"])
        fingerprints.update(dict.fromkeys(members, result["inputs_fingerprint"]))
    return {
        "inputs_fingerprint": inputs_fingerprint(inputs, key) if inputs is not None else None,
        "fingerprints": {unit: fingerprints[unit] for unit in units},
        "units": {unit: states[unit] for unit in units},
        "stale": sorted(unit for unit in units if states[unit]["stale"]),
    }


def fingerprint_key(path: str, check_mode: bool) -> bytes:
    """This host's fingerprint key, created when missing; in check mode a random one instead.

    Raises ReadError when the key file is refused (see ``load_fingerprint_key``).
    """
    key = load_fingerprint_key(path, create=not check_mode)
    if key is None:
        # Check mode on a host without a key: no unit can have been written with this one, so
        # every unit with a fingerprint is stale, as on the first run that creates the key.
        key = os.urandom(FINGERPRINT_KEY_BYTES)
    return key


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "units": {"type": "list", "elements": "str", "required": True},
            "inputs": {"type": "list", "elements": "path"},
            "inputs_by_unit": {"type": "dict", "default": {}},
            **UNIT_STATE_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )

    run = systemctl_runner(module)

    by_unit = {}
    for unit, paths in module.params["inputs_by_unit"].items():
        if not isinstance(paths, list):
            module.fail_json(
                msg=f"inputs_by_unit: the value for {unit} must be a list of paths", changed=False
            )
        # As the type "path" of O(inputs) treats each element.
        by_unit[str(unit)] = [check_type_path(str(path)) for path in paths]
    try:
        result = read_units_by_inputs(
            module.params["units"],
            module.params["inputs"],
            by_unit,
            run,
            module.params["state_dir"],
            fingerprint_key(module.params["fingerprint_key_file"], module.check_mode),
        )
    except ReadError as exc:
        module.fail_json(msg=str(exc), changed=False)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
