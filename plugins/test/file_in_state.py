"""Test: whether a path read by dataops.airflow.file_states already is as wanted."""

from __future__ import annotations

from ansible_collections.dataops.airflow.plugins.module_utils.file_states import state_matches

DOCUMENTATION = r"""
name: file_in_state
short_description: Whether a path read by M(dataops.airflow.file_states) is already as wanted
version_added: 0.1.0
description:
  - Compares one entry of the C(states) that M(dataops.airflow.file_states) returns with the
    wanted type, owner, group, mode and content. Only the given properties are compared.
  - A missing path, or one that could not be inspected, never matches, so the task that
    manages it runs.
options:
  _input:
    description: One entry of C(states).
    type: dict
    required: true
  kind:
    description: C(file), C(directory) or C(link).
    type: str
    default: file
  owner:
    description: Wanted owner name.
    type: str
  group:
    description: Wanted group name.
    type: str
  mode:
    description: Wanted mode, as an octal string (C("0640")) or the number YAML makes of C(0640).
    type: raw
  content:
    description: Wanted content of a regular file (compared by its SHA-1 as UTF-8).
    type: str
  checksum:
    description: Wanted SHA-1 of a regular file (for a file copied from the controller).
    type: str
  src:
    description: Wanted target of a symbolic link.
    type: str
"""

EXAMPLES = r"""
- name: Write the unit file unless it is already as wanted
  ansible.builtin.template:
    src: airflow.service.j2
    dest: /etc/systemd/system/airflow-scheduler.service
    owner: root
    group: root
    mode: "0644"
  when: >-
    not (unit_files.states['/etc/systemd/system/airflow-scheduler.service']
         is dataops.airflow.file_in_state(
              content=lookup('ansible.builtin.template', 'airflow.service.j2'),
              owner='root', group='root', mode='0644'))
"""

RETURN = r"""
_value:
  description: True when every given property matches.
  type: bool
"""


class TestModule:
    """Ansible test plugin entry point."""

    def tests(self) -> dict:
        return {"file_in_state": state_matches}
