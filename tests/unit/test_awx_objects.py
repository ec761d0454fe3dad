"""awx/objects.yml: every job template names a playbook of this repository, every survey
variable is declared in an argument spec with the same default, and the filters that turn the
data into the awx.awx modules' form refuse what AWX would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.dataops.airflow.plugins.filter.awx_survey_question import (
    awx_survey_question,
)
from ansible_collections.dataops.airflow.plugins.filter.awx_workflow_node import awx_workflow_node

REPO = Path(__file__).resolve().parents[2]
OBJECTS = yaml.safe_load((REPO / "awx" / "objects.yml").read_text(encoding="utf-8"))
TEMPLATES = OBJECTS["dataops_awx_job_templates"]


def _spec_options() -> dict[str, dict[str, Any]]:
    """Every option of every role's argument specs, with the role's default."""
    options: dict[str, dict[str, Any]] = {}
    for spec_file in (REPO / "roles").glob("*/meta/argument_specs.yml"):
        specs = yaml.safe_load(spec_file.read_text(encoding="utf-8"))["argument_specs"]
        for entry in specs.values():
            options.update(entry.get("options", {}))
    return options


OPTIONS = _spec_options()


def test_the_five_templates_of_the_cluster_are_there() -> None:
    assert [t["name"] for t in TEMPLATES] == [
        "Deploy cluster",
        "Rolling worker restart",
        "Validate consistency",
        "Capacity report",
        "Rotate fernet key",
    ]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["name"])
def test_every_template_names_a_playbook_of_the_repository(template: dict[str, Any]) -> None:
    playbook = REPO / template["playbook"]
    assert playbook.is_file(), f"{template['name']}: no {template['playbook']}"
    assert isinstance(yaml.safe_load(playbook.read_text(encoding="utf-8")), list)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["name"])
def test_every_template_uses_known_credentials_and_a_timeout(template: dict[str, Any]) -> None:
    assert set(template["credentials"]) <= set(OBJECTS["dataops_awx_credential_names"])
    assert isinstance(template["job_timeout"], int) and template["job_timeout"] > 0


SURVEY = [(t["name"], q) for t in TEMPLATES for q in t["survey"]]


@pytest.mark.parametrize(("template", "question"), SURVEY, ids=lambda v: str(v)[:40])
def test_every_survey_variable_is_declared_with_the_same_default(
    template: str, question: dict[str, Any]
) -> None:
    variable = question["variable"]
    assert variable in OPTIONS, f"{template}: {variable} is in no argument spec"
    option = OPTIONS[variable]
    assert str(question["default"]).lower() == str(option["default"]).lower(), (
        f"{template}: the survey's default for {variable} is not the role's"
    )
    wanted = {"int": "integer", "bool": "multiplechoice"}[option["type"]]
    assert question["type"] == wanted


@pytest.mark.parametrize(("template", "question"), SURVEY, ids=lambda v: str(v)[:40])
def test_every_survey_question_is_valid_for_awx(template: str, question: dict[str, Any]) -> None:
    entry = awx_survey_question(question)
    assert entry["variable"] == question["variable"] and entry["required"] is True


def test_the_workflow_deploys_then_validates() -> None:
    nodes = OBJECTS["dataops_awx_workflow"]["nodes"]
    names = {t["name"] for t in TEMPLATES}
    assert {n["job_template"] for n in nodes} <= names
    entries = [awx_workflow_node(n, "Default") for n in nodes]
    assert entries[0]["unified_job_template"]["name"] == "Deploy cluster"
    assert entries[0]["related"]["success_nodes"] == [{"identifier": "validate"}]
    assert entries[1]["related"] == {"success_nodes": [], "failure_nodes": [], "always_nodes": []}


def test_validate_consistency_runs_hourly() -> None:
    (template,) = [t for t in TEMPLATES if "schedule" in t]
    assert template["name"] == "Validate consistency"
    assert "FREQ=HOURLY;INTERVAL=1" in template["schedule"]["rrule"]


@pytest.mark.parametrize(
    "question",
    [
        {"variable": "x", "type": "integer", "min": 1, "max": 5, "default": 9},
        {"variable": "x", "type": "integer", "default": 1},
        {"variable": "x", "type": "multiplechoice", "choices": ["a"], "default": "b"},
        {"variable": "x", "type": "boolean", "default": True},
        {"type": "integer", "min": 1, "max": 2, "default": 1},
    ],
)
def test_bad_questions_are_refused(question: dict[str, Any]) -> None:
    with pytest.raises(AnsibleFilterError):
        awx_survey_question(question)


def test_a_multiplechoice_question_keeps_its_choices_as_strings() -> None:
    entry = awx_survey_question(
        {"variable": "f", "type": "multiplechoice", "choices": [False, True], "default": "False"}
    )
    assert entry["choices"] == ["False", "True"]
