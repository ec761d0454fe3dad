"""Filter: a survey question of awx/objects.yml in the form of AWX's survey_spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: awx_survey_question
short_description: One survey question of awx/objects.yml as an AWX survey_spec entry
version_added: 0.5.0
description:
  - Turns C({variable, question, type, min, max, choices, default}) into the entry AWX's
    C(survey_spec.spec) takes; every question is required.
  - C(integer) questions need C(min) and C(max) and a default between them; C(multiplechoice)
    questions need C(choices) and a default among them.
positional: _input
options:
  _input:
    description: One question.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: The survey spec of a template
  ansible.builtin.set_fact:
    spec: "{{ template.survey | map('dataops.airflow.awx_survey_question') | list }}"
"""

RETURN = r"""
_value:
  description:
    - The survey_spec entry.
    - question_name, variable, type, required, default, min/max or choices.
  type: dict
"""

TYPES = ("integer", "multiplechoice", "text")


def awx_survey_question(question: Mapping[str, Any]) -> dict[str, Any]:
    """A question of awx/objects.yml -> an entry of AWX's survey_spec.spec."""
    variable = question.get("variable")
    kind = question.get("type")
    if not variable or kind not in TYPES:
        raise AnsibleFilterError(
            f"survey question {variable!r}: needs a variable and a type in {TYPES}"
        )
    entry: dict[str, Any] = {
        "question_name": question.get("question", variable),
        "question_description": question.get("description", ""),
        "variable": variable,
        "type": kind,
        "required": True,
        "default": question.get("default", ""),
    }
    if kind == "integer":
        low, high = question.get("min"), question.get("max")
        if not (isinstance(low, int) and isinstance(high, int) and low <= entry["default"] <= high):
            raise AnsibleFilterError(
                f"survey question {variable}: an integer needs min <= default <= max"
            )
        entry.update(min=low, max=high)
    elif kind == "multiplechoice":
        choices = [str(choice) for choice in question.get("choices", [])]
        if str(entry["default"]) not in choices:
            raise AnsibleFilterError(f"survey question {variable}: the default must be a choice")
        entry["choices"] = choices
    return entry


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict:
        return {"awx_survey_question": awx_survey_question}
