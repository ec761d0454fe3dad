"""Filter: the exact pins of a requirements lock, normalised for comparison."""

from __future__ import annotations

import re

DOCUMENTATION = r"""
name: requirement_pins
short_description: The C(name==version) pins of a requirements file, normalised
version_added: 0.1.0
description:
  - Reads the text of a lock file (C(uv pip compile) or C(pip freeze) output) and returns
    the sorted list of its exact pins, with project names normalised as PEP 503 does.
  - Comments, blank lines, options (C(--index-url)), hashes and environment markers are ignored,
    so the output of C(uv pip freeze) and the lock that produced it compare equal.
options:
  _input:
    description: Text of the requirements file.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Compare the virtualenv with the lock
  ansible.builtin.set_fact:
    missing: "{{ (lookup('file', 'airflow.lock') | dataops.airflow.requirement_pins)
                 | difference(freeze.stdout | dataops.airflow.requirement_pins) }}"
"""

RETURN = r"""
_value:
  description: Sorted, de-duplicated C(name==version) strings.
  type: list
  elements: str
"""

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*([^\s;\\#]+)")


def normalise_name(name: str) -> str:
    """PEP 503 normalisation: case-insensitive, runs of -, _ and . are equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_pins(text: str) -> list[str]:
    """Return the sorted exact pins found in requirements text."""
    pins = set()
    for line in str(text).splitlines():
        match = _PIN.match(line)
        if match:
            pins.add(f"{normalise_name(match.group(1))}=={match.group(2)}")
    return sorted(pins)


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict:
        return {"requirement_pins": requirement_pins}
