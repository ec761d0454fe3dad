"""Lookup: the SHA-1 of a file on the controller, found as ansible.builtin.copy finds its src."""

from __future__ import annotations

DOCUMENTATION = r"""
name: file_checksum
short_description: SHA-1 of a file on the controller
version_added: 0.1.0
description:
  - Returns the SHA-1 of each file's bytes, the checksum M(ansible.builtin.copy) compares. A
    relative path is searched like the C(src) of a copy task (the role's C(files/) folder, then
    the playbook's).
  - With the test P(dataops.airflow.file_in_state#test), a copy task can be skipped when the
    node's file already holds these bytes, without reading the file as text.
options:
  _terms:
    description: Paths of the files.
    required: true
    type: list
    elements: path
"""

EXAMPLES = r"""
- name: Copy the lock file unless the node has it already
  ansible.builtin.copy:
    src: locks/airflow.txt
    dest: /opt/airflow/requirements.lock
    mode: "0644"
  when: >-
    not (files.states['/opt/airflow/requirements.lock'] is dataops.airflow.file_in_state(
         checksum=lookup('dataops.airflow.file_checksum', 'locks/airflow.txt'), mode='0644'))
"""

RETURN = r"""
_raw:
  description: One SHA-1 hex digest per path.
  type: list
  elements: str
"""


from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.dataops.airflow.plugins.module_utils.file_states import sha1_of_file


class LookupModule(LookupBase):
    """Ansible lookup plugin entry point."""

    def run(self, terms: list[Any], variables: dict | None = None, **kwargs: Any) -> list[str]:
        self.set_options(var_options=variables, direct=kwargs)
        checksums = []
        for term in terms:
            path = self.find_file_in_search_path(
                variables or {}, "files", str(term), ignore_missing=True
            )
            if not path:
                raise AnsibleLookupError(f"file not found: {term}")
            try:
                checksums.append(sha1_of_file(path))
            except OSError as exc:
                raise AnsibleLookupError(f"cannot read {path}: {exc.strerror or exc}") from exc
        return checksums
