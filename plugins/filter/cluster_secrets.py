"""Filter: the cluster secrets a node runs with, read from its secrets environment file."""

from __future__ import annotations

from ansible_collections.dataops.airflow.plugins.module_utils.airflow_cfg import (
    environment_from_pairs,
    parse_env_file,
)

DOCUMENTATION = r"""
name: cluster_secrets_from_env
short_description: The fernet key, JWT secret and API secret key set in an environment file
version_added: 0.2.0
description:
  - Reads the text of a systemd environment file (the secrets file the airflow_config role
    writes) and returns the cluster secrets it sets, keyed as the role stores them
    (C(fernet_key), C(jwt_secret), C(api_secret_key)); secrets the file does not set are left out.
  - "Why: when the stored secrets are lost, the airflow_config role reuses the secrets the nodes
    already run with instead of generating new ones (a new fernet key makes every encrypted
    Connection and Variable unreadable)."
  - The file is parsed as systemd parses it (quotes, escapes, comments).
options:
  _input:
    description: Text of the environment file.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Collect the secrets a node runs with
  ansible.builtin.set_fact:
    running: "{{ secrets_env.content | b64decode | dataops.airflow.cluster_secrets_from_env }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: "C({fernet_key: ..., jwt_secret: ..., api_secret_key: ...}), only the keys set."
  type: dict
"""

# Environment variable -> key of generated-secrets.json.
SECRET_VARIABLES = {
    "AIRFLOW__CORE__FERNET_KEY": "fernet_key",
    "AIRFLOW__API_AUTH__JWT_SECRET": "jwt_secret",
    "AIRFLOW__API__SECRET_KEY": "api_secret_key",
}


def cluster_secrets_from_env(text: str) -> dict[str, str]:
    """The cluster secrets an environment file sets (non-empty values only)."""
    environ, _dropped = environment_from_pairs(parse_env_file(str(text)))
    return {
        key: environ[name]
        for name, key in SECRET_VARIABLES.items()
        if environ.get(name, "").strip()
    }


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict:
        return {"cluster_secrets_from_env": cluster_secrets_from_env}
