#!/usr/bin/python
"""Module: the state of many paths in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
module: file_states
short_description: Read the type, owner, group, mode and checksum of many paths at once
version_added: 0.1.0
description:
  - Returns, for each path, whether it exists and, if it does, its type, owner, group, octal mode,
    the SHA-1 checksum of a regular file (the checksum M(ansible.builtin.copy) and
    M(ansible.builtin.template) compare) and the target of a symbolic link.
  - Read-only. A final symbolic link is not followed.
  - "Why: every task costs a round trip to the node. The roles of this collection read the state
    of all the files they manage with this module, then skip a template or copy task whose file
    already has the wanted content, owner, group and mode (the test
    P(dataops.airflow.file_in_state#test)). On a converged node that is one round trip for the
    role instead of two per file; a task that does run still makes its own full check."
  - A path that cannot be inspected (permission denied, an unreadable file) is reported with
    C(error) set instead of failing the task, so that the task that manages it runs and reports
    the problem itself.
options:
  paths:
    description: Absolute paths to read.
    type: list
    elements: path
    required: true
extends_documentation_fragment:
  - dataops.airflow.read_only
author:
  - dataops.airflow maintainers (@dataops)
"""

EXAMPLES = r"""
- name: Read the state of the configuration files
  dataops.airflow.file_states:
    paths:
      - /etc/airflow/airflow.cfg
      - /etc/airflow/airflow.env
  register: config_files

- name: Write airflow.cfg unless it already is as wanted
  ansible.builtin.template:
    src: airflow.cfg.j2
    dest: /etc/airflow/airflow.cfg
    owner: root
    group: airflow
    mode: "0640"
  when: >-
    not (config_files.states['/etc/airflow/airflow.cfg'] is dataops.airflow.file_in_state(
         content=lookup('ansible.builtin.template', 'airflow.cfg.j2'),
         owner='root', group='airflow', mode='0640'))
"""

RETURN = r"""
states:
  description: The state of each path, keyed by the path as given.
  returned: always
  type: dict
  sample:
    /etc/airflow/airflow.cfg:
      exists: true
      kind: file
      owner: root
      group: airflow
      mode: "0640"
      checksum: 4f3c2d0e1c6a0c7d9e5b1a2f3e4d5c6b7a8f9e0d
    /etc/airflow/missing.env:
      exists: false
  contains:
    exists:
      description: Whether the path exists (false too when it could not be inspected).
      type: bool
    kind:
      description: C(file), C(directory), C(link) or C(other).
      type: str
    owner:
      description: Owner name, or the numeric id when it has no name.
      type: str
    group:
      description: Group name, or the numeric id when it has no name.
      type: str
    mode:
      description: Permission bits as four octal digits.
      type: str
    checksum:
      description: SHA-1 of a regular file's content.
      type: str
    src:
      description: Target of a symbolic link.
      type: str
    error:
      description: Why the path could not be inspected.
      type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dataops.airflow.plugins.module_utils.file_states import read_states


def main() -> None:
    module = AnsibleModule(
        argument_spec={"paths": {"type": "list", "elements": "path", "required": True}},
        supports_check_mode=True,
    )
    module.exit_json(changed=False, states=read_states(module.params["paths"]))


if __name__ == "__main__":
    main()
