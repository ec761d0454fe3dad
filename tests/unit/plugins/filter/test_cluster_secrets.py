"""cluster_secrets_from_env: what a node's secrets file says the cluster secrets are."""

from __future__ import annotations

from ansible_collections.dataops.airflow.plugins.filter.cluster_secrets import (
    FilterModule,
    cluster_secrets_from_env,
)

SECRETS_ENV = """\
# Ansible managed
AIRFLOW__CORE__FERNET_KEY='a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleS0='
AIRFLOW__API_AUTH__JWT_SECRET='jwt'
AIRFLOW__API__SECRET_KEY="api"
AIRFLOW__DATABASE__SQL_ALCHEMY_CONN='postgresql+psycopg2://u:p@h/db'
"""


def test_reads_the_three_cluster_secrets_and_nothing_else() -> None:
    assert cluster_secrets_from_env(SECRETS_ENV) == {
        "fernet_key": "a2V5LWtleS1rZXkta2V5LWtleS1rZXkta2V5LWtleS0=",
        "jwt_secret": "jwt",
        "api_secret_key": "api",
    }


def test_a_file_without_cluster_secrets_gives_an_empty_dict() -> None:
    # A worker's file: the broker only.
    assert cluster_secrets_from_env("AIRFLOW__CELERY__BROKER_URL='redis://h:6379/0'\n") == {}


def test_empty_and_commented_values_are_not_secrets() -> None:
    text = "AIRFLOW__CORE__FERNET_KEY=''\n# AIRFLOW__API__SECRET_KEY='old'\n"
    assert cluster_secrets_from_env(text) == {}


def test_the_last_assignment_wins_as_in_systemd() -> None:
    text = "AIRFLOW__API_AUTH__JWT_SECRET='one'\nAIRFLOW__API_AUTH__JWT_SECRET='two'\n"
    assert cluster_secrets_from_env(text) == {"jwt_secret": "two"}


def test_the_filter_is_registered() -> None:
    assert FilterModule().filters()["cluster_secrets_from_env"] is cluster_secrets_from_env
