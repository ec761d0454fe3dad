#!/usr/bin/python
"""Module: canonical, keyed hashes of the Airflow configuration a node would run with."""

from __future__ import annotations

DOCUMENTATION = r"""
module: airflow_config_hash
short_description: Hash the Airflow configuration, packages and DAG files a node would use
version_added: 0.1.0
description:
  - Reads C(airflow.cfg) the way Airflow 3 does (Python's C(configparser) with Airflow's
    settings) together with the C(AIRFLOW__SECTION__KEY) overrides that the systemd units load
    from their C(EnvironmentFile), and returns one canonical hash per scope and a keyed digest
    per key. Values themselves are never returned.
  - Only what Airflow would actually use counts. Comments, blank lines, the order of sections
    and keys, whitespace around C(=), CRLF line endings and whether a value comes from the file
    or from the environment make no difference. Values are compared after the interpolation
    of references to other keys (configparser's C(%) syntax), with C($VAR) and C(~) left as
    written.
  - Environment overrides win over the file, as in Airflow. For the options Airflow marks
    sensitive (C(core.fernet_key), C(database.sql_alchemy_conn), C(celery.broker_url),
    C(celery.result_backend), C(api.secret_key), C(api_auth.jwt_secret) and others, plus
    O(sensitive_keys)) the C(_cmd) and C(_secret) fallbacks, in the file or as C(_CMD) and
    C(_SECRET) variables, count in Airflow's order; the command or secret path is compared as
    written and never run. Such a key is reported under its plain name, for example
    C(core.fernet_key).
  - Fails, naming the file and the reason (never its content), when C(airflow.cfg) or the
    environment file is missing, unreadable, not a regular file, binary or not UTF-8, or cannot
    be parsed as Airflow parses it (duplicate sections or keys, a line that is neither a section
    header nor C(key = value), a UTF-8 byte order mark, an interpolation that cannot be
    resolved). A failed result is what M(dataops.airflow.airflow_config_compare) reports as
    "could not be read".
  - "Comparing nodes: run this module on every node, then
    M(dataops.airflow.airflow_config_compare) once (C(run_once: true)). That action plugin reads
    every host's registered result from C(hostvars), groups the hosts by hash for each scope and,
    when they differ, names the differing keys and which hosts hold which variant (labels A, B,
    ...), never the values. The playbook C(dataops.airflow.validate_config) does both steps and
    generates a random O(digest_key) for each run."
  - "Per unit: with O(units) or O(unit_pattern), the C(config) scope is also read once for
    every systemd unit found and loaded, from the environment that unit is configured with
    (C(Environment=), drop-ins included, then each of its C(EnvironmentFile=)s, as
    C(systemctl show) reports them) over O(path), and each unit becomes a scope of its own
    named C(config:<unit>), for example C(config:airflow-scheduler.service), beside the
    host-wide C(config) scope (O(path) and O(env_files), as without these options).
    M(dataops.airflow.airflow_config_compare) compares C(config) across all hosts and each
    C(config:<unit>) among the hosts that have that unit. So components with different
    environment files (masters with the database URL, workers without) and drop-ins written by
    hand are hashed as they run. The result also tells for each unit whether its running
    process is stale (RV(units)). When no loaded unit is found, the result has the host-wide
    C(config) scope only, with a warning."
  - "Keyed digests: with O(digest_key), digests and hashes are HMAC-SHA256, so they can be
    compared between the hosts of one run but reveal nothing about the values to anyone who
    does not hold the key, even for short values such as passwords or ports. A fixed key, kept
    in a vault, makes hashes comparable across runs as well. Without O(digest_key) the module
    uses plain SHA-256 and warns: such digests are stable, but a digest of a guessable value
    can be found by trying candidates, so do not store or show unkeyed output."
author:
  - dataops.airflow maintainers (@dataops)
options:
  path:
    description:
      - The C(airflow.cfg) that the Airflow units read.
      - When the environment file (or, per unit, a unit's environment) sets C(AIRFLOW_CONFIG) or
        C(AIRFLOW_HOME) to another file, the module warns.
    type: path
    default: /etc/airflow/airflow.cfg
  env_files:
    description:
      - The C(EnvironmentFile)s of the Airflow systemd units, in the order the units load them
        (a later assignment of a name wins, as in systemd), parsed with systemd's rules
        (C(#) and C(;) comment lines, single and double quotes, backslash continuations; the last
        assignment of a name wins; invalid names are ignored with a warning).
      - Their C(AIRFLOW__SECTION__KEY) variables override C(airflow.cfg); C(AIRFLOW_HOME) and
        C(AIRFLOW_CONFIG) are compared as the keys C(env:AIRFLOW_HOME) and C(env:AIRFLOW_CONFIG).
      - The default is what the airflow_config role writes; its secrets file holds the settings
        with secrets (fernet key, JWT secret, database and broker URLs).
      - Variables set elsewhere (C(Environment=) lines, drop-ins) are not seen; use O(units) or
        O(unit_pattern) for that.
      - Set to an empty list when the units load no environment file.
      - These files make the host-wide C(config) scope, with O(units) or O(unit_pattern) as well;
        the C(config:<unit>) scopes read each unit's own environment files instead.
    type: list
    elements: path
    aliases: [env_file]
    default: [/etc/airflow/airflow.env, /etc/airflow/secrets.env]
  units:
    description:
      - systemd units whose configuration to hash one by one, for example
        C(airflow-scheduler.service). Each loaded unit gets a C(config:<unit>) scope (see the
        description) and an entry in RV(units).
      - A unit that systemd has not loaded on this node (not found, masked) is skipped without
        a warning, so one list can serve masters and workers.
      - Together with O(unit_pattern), the units named here come first, then those found.
    type: list
    elements: str
  unit_pattern:
    description:
      - A shell-style pattern of service unit names, for example C(airflow-*.service). The
        module lists the matching unit files (C(systemctl list-unit-files --type=service)) and
        reads those systemd has loaded, as with O(units). Templates (C(name@.service)) and
        aliases are skipped.
    type: str
  state_dir:
    description:
      - The directory where each unit's C(ExecStartPre=+) line records the environment of its
        current start, as C(<unit>.environ) (see the notes). The systemd_services role writes
        its units so.
      - Used with O(units) or O(unit_pattern) only.
    type: path
    default: /run/dataops-airflow
  fingerprint_key_file:
    description:
      - The file holding this host's key of the units' inputs fingerprints, written by
        M(dataops.airflow.airflow_units) (the systemd_services role). This module only reads
        it, and never creates it.
      - "Why a key: the fingerprint is public (a unit file is world-readable), the files it
        covers are secret; keyed, it reveals nothing about them to anyone without the key,
        which only root can read."
      - When the file is missing, the fingerprints are not compared and the module warns;
        staleness is then judged from the environment and the unit files only.
      - The module fails, naming the reason, when the file is a symbolic link, not a regular
        file, owned by another user, or accessible to group or others (mode 0600 or stricter
        needed).
      - Used with O(units) or O(unit_pattern) only.
    type: path
    default: /var/lib/dataops-airflow/fingerprint.key
  venv:
    description:
      - The Airflow virtualenv, for the C(packages) scope. Every distribution under
        C(lib/python3.*/site-packages) counts (C(*.dist-info) and C(*.egg-info)), by PEP 503
        name and version, with the Python version from C(pyvenv.cfg).
    type: path
    default: /opt/airflow
  dags_folder:
    description:
      - The DAG folder, for the C(dags) scope. Every file counts, by path relative to the folder
        and SHA-256 of its content. C(__pycache__), C(*.pyc) and hidden directories such as
        C(.git) are skipped; C(.airflowignore) counts.
      - Symbolic links that resolve inside the folder are followed, as Airflow follows them.
        A link that resolves outside the folder counts by its link text only; what it points to
        is neither read nor walked.
      - A file over 16 MiB counts by its size and is not read. FIFOs, sockets, devices and
        dangling links count by their type (and a link by its text) and are never read.
    type: path
    default: /var/lib/airflow/dags
  scopes:
    description:
      - What to hash. C(config) is C(airflow.cfg) plus the environment overrides, C(packages) the
        virtualenv's distributions, C(dags) the files of the DAG folder.
      - A scope that cannot be read fails the module like a bad C(airflow.cfg) does.
    type: list
    elements: str
    choices: [config, packages, dags]
    default: [config]
  exclude:
    description:
      - Keys to leave out because their values legitimately differ between hosts. Shell-style
        patterns (C(fnmatch), case-sensitive).
      - Patterns without a prefix match config keys, C(section.key) (for example
        C(celery.worker_concurrency) or C(logging.*)) and C(env:AIRFLOW_HOME); prefix
        C(packages:) or C(dags:) to match package names or DAG file paths
        (C(dags:*.md), C(packages:pip)).
      - Config patterns apply to every C(config:<unit>) scope as well.
      - Nothing is excluded by default; excluded names are listed in the result.
    type: list
    elements: str
    default: []
  sensitive_keys:
    description:
      - More C(section.key) options to treat as sensitive, on top of those Airflow 3 declares
        (for options that providers add). Sensitive options honour the C(_cmd) and C(_secret)
        fallbacks and are marked as secret in comparison reports.
    type: list
    elements: str
    default: []
  digest_key:
    description:
      - Key for the HMAC-SHA256 digests; at least 16 characters. Every host of one comparison
        must get the same key. Never logged.
      - Without it digests are plain SHA-256 and the module warns (see the description).
    type: str
extends_documentation_fragment:
  - dataops.airflow.read_only
notes:
  - The module reads files only; C(changed) is always false. Run it with C(become) when
    C(airflow.cfg) is readable by C(root) and C(airflow) only.
  - Not compared, because they are not in the files read here; Airflow's built-in defaults
    (an option set on some hosts only shows as C(not set) on the others, even when the value
    set is the default), values produced by C(_cmd) commands or secrets backends, the
    expansion of C($VAR) in values, and deprecated option names that Airflow maps to new ones
    (C([webserver] secret_key) and C([api] secret_key) are different keys here).
  - Keys and section names keep the case written in the file, as in Airflow, which only reads
    lower-case keys; C([Core]) and C([core]) are different sections.
  - "Airflow's parser has no inline comments, so in C(parallelism = 32  # tuned) the comment
    is part of the value; it counts here as well."
  - The same files give the same hashes whatever Python 3.9+ runs the module, so nodes with
    different system Pythons compare fine.
  - "With O(units) or O(unit_pattern) the module runs C(systemctl list-unit-files) and
    C(systemctl show) (read-only) and reads the environment each running unit's main process
    was started with and its start time as M(dataops.airflow.airflow_units) does, which needs
    C(become). A process is stale when the C(DATAOPS_AIRFLOW_INPUTS) it was started with
    differs from the fingerprint of the files its unit lists in C(DATAOPS_AIRFLOW_INPUT_FILES)
    (colon-separated; keyed with O(fingerprint_key_file), and not compared without that file),
    when its C(AIRFLOW__*), C(AIRFLOW_HOME) or C(AIRFLOW_CONFIG) variables
    differ from what its unit configures now, or when its unit file or a drop-in changed after
    it started."
  - "The C(config:<unit>) scopes hash the configuration each unit would start with; whether the
    running process still has it is what RV(units) tells (C(stale))."
  - "The environment a running process was started with is read from the record its unit's
    C(ExecStartPre=+) line writes at every start (C(env -0) to C(<state_dir>/<unit>.environ),
    see O(state_dir)), not from C(/proc/PID/environ), which setproctitle (used by Airflow and
    Celery) overwrites. A process without such a record, or whose record was written more than
    a minute before the process started, counts as stale."
seealso:
  - module: dataops.airflow.airflow_config_compare
  - module: dataops.airflow.airflow_units
  - name: Airflow configuration reference
    description: How Airflow reads airflow.cfg, environment variables, _cmd and _secret options.
    link: https://airflow.apache.org/docs/apache-airflow/stable/howto/set-config.html
"""

EXAMPLES = r"""
- name: Hash the configuration and the virtualenv on every node
  dataops.airflow.airflow_config_hash:
    scopes: [config, packages]
    digest_key: "{{ run_digest_key }}"
  become: true
  register: airflow_config_hash_result

- name: Compare the nodes; fail naming the hosts and keys that differ
  dataops.airflow.airflow_config_compare:
    result_var: airflow_config_hash_result
  run_once: true

- name: Leave out keys that differ on purpose, and hash the DAG folder too
  dataops.airflow.airflow_config_hash:
    path: /etc/airflow/airflow.cfg
    env_files: [/etc/airflow/airflow.env, /etc/airflow/secrets.env]
    dags_folder: /var/lib/airflow/dags
    scopes: [config, packages, dags]
    exclude:
      - celery.worker_concurrency
      - "dags:README.md"
    digest_key: "{{ run_digest_key }}"
  become: true
  register: airflow_config_hash_result

- name: Hash what each Airflow unit is configured with, and find stale processes
  dataops.airflow.airflow_config_hash:
    unit_pattern: "airflow-*.service"
    scopes: [config, packages]
    digest_key: "{{ run_digest_key }}"
  become: true
  register: airflow_config_hash_result
  # Result scopes: config:airflow-scheduler.service on masters,
  # config:airflow-celery-worker.service on workers, ..., and packages.

- name: The same for units named explicitly (those not loaded on a node are skipped)
  dataops.airflow.airflow_config_hash:
    units: [airflow-scheduler.service, airflow-celery-worker.service]
    digest_key: "{{ run_digest_key }}"
  become: true
  register: airflow_config_hash_result
"""

RETURN = r"""
digest_algorithm:
  description: C(hmac-sha256) with O(digest_key), C(sha256) without.
  returned: success
  type: str
  sample: hmac-sha256
digest_key_id:
  description:
    - A fingerprint of O(digest_key) (an HMAC of a fixed text, not the key), so that hosts hashed
      with different keys are recognised. Null without a key.
  returned: success
  type: str
  sample: 3f0c5e1a9b2d4c6e
hashes:
  description:
    - The hash of each scope, prefixed with the algorithm. Per unit (O(units), O(unit_pattern)),
      with a C(config:<unit>) entry per unit beside C(config).
  returned: success
  type: dict
  sample:
    config: "hmac-sha256:5c1f0e7ab3d24f6e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f"
scopes:
  description:
    - Per scope, its hash and a digest per key.
    - With O(units) or O(unit_pattern), besides the host-wide C(config), one C(config:<unit>)
      scope per loaded unit whose environment could be read, for example
      C(config:airflow-celery-worker.service), laid out like C(config).
  returned: success
  type: dict
  contains:
    hash:
      description: Hash of the scope, over the sorted key digests.
      type: str
    count:
      description: How many keys the hash covers.
      type: int
    digests:
      description:
        - Key name to the keyed digest (hex) of its value; never the value. Config keys are
          C(section.key) (C(DEFAULT.key) for the C([DEFAULT]) section, C(env:AIRFLOW_HOME) and
          C(env:AIRFLOW_CONFIG) for the location variables), package keys PEP 503 names (plus
          C(python:version) and C(python:site-packages)), DAG keys paths relative to the folder.
      type: dict
    excluded:
      description: Names found but left out because of O(exclude).
      type: list
      elements: str
    from_env:
      description:
        - Config scope only. Keys whose value comes from the environment file rather than
          C(airflow.cfg) (names only).
      type: list
      elements: str
      returned: for the config scope, when any is set
    sensitive:
      description: Config scope only. Keys among C(digests) that Airflow treats as sensitive.
      type: list
      elements: str
      returned: for the config scope, when any is set
  sample:
    config:
      hash: "hmac-sha256:5c1f0e7ab3d24f6e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f"
      count: 2
      digests:
        core.fernet_key: "9b1e4d0c2f3a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c"
        core.parallelism: "0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c"
      excluded: []
      from_env: [core.parallelism]
      sensitive: [core.fernet_key]
units:
  description:
    - With O(units) or O(unit_pattern), each unit found that systemd has loaded, with its state
      and whether its running process is stale. Names, paths and reasons only, never values.
    - Empty when no loaded unit was found (then only the host-wide C(config) scope is there).
  returned: when O(units) or O(unit_pattern) is set
  type: dict
  contains:
    active_state:
      description: C(active), C(inactive), C(failed), C(activating)...
      type: str
    stale:
      description:
        - Whether the running process runs with other settings than the unit configures now
          (see the notes). False for a unit that does not run.
      type: bool
    stale_reasons:
      description: Why it is stale (names of variables and files, never values).
      type: list
      elements: str
    environment_files:
      description: The unit's C(EnvironmentFile=) paths, in the order systemd reads them.
      type: list
      elements: str
    drop_ins:
      description: The unit's drop-in files.
      type: list
      elements: str
    scope:
      description:
        - The scope holding the unit's configuration, C(config:<unit>); null when the
          C(config) scope was not asked for or could not be read (see RV(units.error)).
      type: str
    error:
      description:
        - "Why the unit's configuration could not be read, for example
          C(/etc/airflow/secrets.env: permission denied) for a required environment file;
          null otherwise."
      type: str
  sample:
    airflow-celery-worker.service:
      active_state: active
      stale: true
      stale_reasons:
        - "runs with another environment than its unit sets: AIRFLOW__CELERY__WORKER_CONCURRENCY"
        - "its unit changed after it started:
          /etc/systemd/system/airflow-celery-worker.service.d/x.conf"
      environment_files: [/etc/airflow/airflow.env, /etc/airflow/worker.env]
      drop_ins: [/etc/systemd/system/airflow-celery-worker.service.d/x.conf]
      scope: "config:airflow-celery-worker.service"
      error: null
config_path:
  description: The configuration file read.
  returned: success
  type: str
  sample: /etc/airflow/airflow.cfg
failed_path:
  description: On failure, the file or folder that could not be used.
  returned: failure
  type: str
  sample: /etc/airflow/airflow.cfg
reason:
  description: On failure, why the file or folder could not be used (C(missing),
    C(permission denied), C(binary content), C(unparseable), ...).
  returned: failure
  type: str
  sample: permission denied
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import ReadError
from ansible_collections.dataops.airflow.plugins.module_utils.config_digest import SCOPES, collect
from ansible_collections.dataops.airflow.plugins.module_utils.units import (
    UNIT_STATE_ARGUMENT_SPEC,
    systemctl_runner,
)

NO_KEY_WARNING = (
    "digest_key is not set: digests are plain SHA-256, and a digest of a short or guessable "
    "value (a password, a port) can be found by trying candidates. Pass a random digest_key, "
    "the same for every host of a run, before storing or showing this output."
)


def run_module() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/airflow/airflow.cfg"},
            "env_files": {
                "type": "list",
                "elements": "path",
                "aliases": ["env_file"],
                "default": ["/etc/airflow/airflow.env", "/etc/airflow/secrets.env"],
            },
            "venv": {"type": "path", "default": "/opt/airflow"},
            "dags_folder": {"type": "path", "default": "/var/lib/airflow/dags"},
            "scopes": {
                "type": "list",
                "elements": "str",
                "choices": list(SCOPES),
                "default": ["config"],
            },
            "exclude": {"type": "list", "elements": "str", "default": []},
            "sensitive_keys": {"type": "list", "elements": "str", "default": [], "no_log": False},
            "digest_key": {"type": "str", "no_log": True},
            "units": {"type": "list", "elements": "str"},
            "unit_pattern": {"type": "str"},
            **UNIT_STATE_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    params = module.params

    # Read-only systemctl calls, so check mode runs them too.
    run = systemctl_runner(module)

    try:
        result = collect(
            scopes=params["scopes"],
            path=params["path"],
            env_files=params["env_files"],
            venv=params["venv"],
            dags_folder=params["dags_folder"],
            exclude=params["exclude"],
            digest_key=params["digest_key"],
            sensitive_keys=params["sensitive_keys"],
            units=params["units"],
            unit_pattern=params["unit_pattern"],
            run=run,
            state_dir=params["state_dir"],
            fingerprint_key_file=params["fingerprint_key_file"],
        )
    except ReadError as exc:
        module.fail_json(msg=str(exc), reason=exc.reason, failed_path=exc.path, changed=False)
    except ValueError as exc:
        module.fail_json(msg=str(exc), changed=False)
    for warning in result.pop("warnings"):
        module.warn(warning)
    if not params["digest_key"]:
        module.warn(NO_KEY_WARNING)
    module.exit_json(changed=False, config_path=params["path"], **result)


def main() -> None:
    run_module()


if __name__ == "__main__":
    main()
