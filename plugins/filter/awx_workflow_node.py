"""Filter: a workflow node of awx/objects.yml in the form of awx.awx.workflow_job_template."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DOCUMENTATION = r"""
name: awx_workflow_node
short_description: One workflow node of awx/objects.yml as a workflow_nodes entry
version_added: 0.5.0
description:
  - Turns C({identifier, job_template, success, failure, always}) (the last three lists of node
    identifiers) into the entry awx.awx.workflow_job_template's C(workflow_nodes) takes.
positional: _input
options:
  _input:
    description: One node.
    type: dict
    required: true
  organization:
    description: Organization of the node's job template.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The nodes of a workflow
  ansible.builtin.set_fact:
    nodes: "{{ workflow.nodes | map('dataops.airflow.awx_workflow_node', 'Default') | list }}"
"""

RETURN = r"""
_value:
  description:
    - The workflow_nodes entry.
    - identifier, unified_job_template (name, type, organization), related nodes.
  type: dict
"""

OUTCOMES = ("success", "failure", "always")


def awx_workflow_node(node: Mapping[str, Any], organization: str) -> dict[str, Any]:
    """A node of awx/objects.yml's workflow -> an entry of workflow_nodes."""
    return {
        "identifier": node["identifier"],
        "unified_job_template": {
            "name": node["job_template"],
            "type": "job_template",
            "organization": {"name": organization},
        },
        "related": {
            f"{outcome}_nodes": [{"identifier": target} for target in node.get(outcome, [])]
            for outcome in OUTCOMES
        },
    }


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict:
        return {"awx_workflow_node": awx_workflow_node}
