"""The action plugin: reading results from hostvars and failing or not."""

from __future__ import annotations

from unittest.mock import MagicMock

from ansible_collections.dataops.airflow.plugins.action.airflow_config_compare import ActionModule
from ansible_collections.dataops.airflow.plugins.module_utils.config_digest import Digester

KEY = "k" * 32


def result(parallelism: str) -> dict:
    digester = Digester(KEY)
    digests = {"core.parallelism": digester.item("value", parallelism)}
    return {
        "digest_algorithm": digester.algorithm,
        "digest_key_id": digester.key_id,
        "scopes": {"config": {"hash": digester.scope_hash(digests), "digests": digests}},
    }


def action(args: dict, run_once: bool = True) -> ActionModule:
    task = MagicMock(args=args, async_val=0, check_mode=False, run_once=run_once)
    connection = MagicMock()
    connection._shell.tmpdir = "/tmp"
    return ActionModule(task, connection, MagicMock(), MagicMock(), MagicMock(), MagicMock())


def play_vars(per_host: dict) -> dict:
    return {
        "ansible_play_hosts_all": list(per_host),
        "hostvars": {h: ({"hashed": r} if r is not None else {}) for h, r in per_host.items()},
    }


def test_reads_hostvars_of_all_play_hosts_and_fails_on_drift() -> None:
    task_vars = play_vars({"m1": result("32"), "w1": result("32"), "w2": result("8"), "w3": None})
    out = action({"result_var": "hashed"}).run(task_vars=task_vars)
    assert out["failed"] is True
    assert out["changed"] is False
    assert out["report"][0].endswith("w2 differs on core.parallelism")
    assert out["unreadable"] == {"w3": "no result: the host was unreachable or did not run"}


def test_fail_on_difference_false_reports_without_failing() -> None:
    task_vars = play_vars({"m1": result("32"), "w1": result("8")})
    out = action({"result_var": "hashed", "fail_on_difference": False}).run(task_vars=task_vars)
    assert out["failed"] is False
    assert out["consistent"] is False
    assert "\n" in out["msg"]


def test_explicit_results_and_success_line() -> None:
    ok = result("32")
    out = action({"results": {"a": ok, "b": ok}}).run(task_vars={})
    assert out["failed"] is False
    assert out["report"] == [f"config: {ok['scopes']['config']['hash']} on 2 hosts"]
    assert out["msg"] == "2 hosts agree on config"


def test_bad_limits_are_refused() -> None:
    out = action({"results": {}, "max_hosts_listed": 0}).run(task_vars={})
    assert out["failed"] is True
    assert "max_hosts_listed" in out["msg"]


def per_unit(parallelism: str, stale: bool = False) -> dict:
    """A result hashed per unit: host-wide config and one worker unit, maybe running stale."""
    plain = result(parallelism)
    unit = "airflow-celery-worker.service"
    reasons = ["started before its configuration or packages changed"] if stale else []
    return {
        **plain,
        "scopes": {
            "config": plain["scopes"]["config"],
            f"config:{unit}": plain["scopes"]["config"],
        },
        "units": {unit: {"active_state": "active", "stale": stale, "stale_reasons": reasons}},
    }


def test_a_stale_unit_fails_the_check_though_every_scope_agrees() -> None:
    task_vars = play_vars({"w1": per_unit("32"), "w2": per_unit("32", stale=True)})
    out = action({"result_var": "hashed"}).run(task_vars=task_vars)
    assert out["failed"] is True
    assert out["report"][0].startswith("config: hmac-sha256:")
    assert out["report"][1].startswith("config airflow-celery-worker.service: hmac-sha256:")
    assert out["report"][2] == (
        "w2: airflow-celery-worker.service runs with stale settings (started before its "
        "configuration or packages changed)"
    )
    assert out["stale"] == {
        "w2": {
            "airflow-celery-worker.service": [
                "started before its configuration or packages changed"
            ]
        }
    }


def test_per_unit_results_that_agree_pass() -> None:
    task_vars = play_vars({"w1": per_unit("32"), "w2": per_unit("32")})
    out = action({"result_var": "hashed"}).run(task_vars=task_vars)
    assert out["failed"] is False
    assert out["msg"] == "2 hosts agree on config, config airflow-celery-worker.service"


def test_per_unit_results_name_a_host_wide_difference() -> None:
    task_vars = play_vars({"w1": per_unit("32"), "w2": per_unit("8")})
    out = action({"result_var": "hashed", "fail_on_difference": False}).run(task_vars=task_vars)
    assert out["consistent"] is False
    assert out["report"][0].endswith("; w2 differs on core.parallelism")
