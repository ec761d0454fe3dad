"""Comparing hosts: grouping, naming differing keys and hosts, hosts that were not read."""

from __future__ import annotations

import json

from sample_data import SAMPLE_CFG

from ansible_collections.dataops.airflow.plugins.module_utils.config_compare import (
    compare,
    order_scopes,
    scope_label,
    short_hash,
)
from ansible_collections.dataops.airflow.plugins.module_utils.config_digest import (
    Digester,
    collect,
)

KEY = "k" * 32


def fake(config: dict[str, str], key: str = KEY, **scopes: dict[str, str]) -> dict:
    """A registered module result built from name -> value maps, one per scope."""
    digester = Digester(key)
    result: dict = {
        "changed": False,
        "digest_algorithm": digester.algorithm,
        "digest_key_id": digester.key_id,
        "scopes": {},
    }
    for scope, items in {"config": config, **scopes}.items():
        digests = {n: digester.item("value", v) for n, v in items.items()}
        result["scopes"][scope] = {
            "hash": digester.scope_hash(digests),
            "count": len(digests),
            "digests": digests,
            "sensitive": [n for n in digests if n.endswith("fernet_key")],
        }
    return result


SAME = {"core.parallelism": "32", "core.fernet_key": "F1", "celery.worker_concurrency": "16"}


def cluster(n: int, **overrides: dict) -> dict:
    hosts = [f"master-{i}" for i in (1, 2)] + [f"worker-{i}" for i in range(1, n - 1)]
    return {h: overrides.get(h.replace("-", "_"), fake(SAME)) for h in hosts}


def test_all_hosts_agree_one_line_per_scope() -> None:
    results = {h: fake(SAME, packages={"celery": "5.5.3"}) for h in ("m1", "w1", "w2")}
    out = compare(results)
    assert out["consistent"] is True
    config_hash = results["m1"]["scopes"]["config"]["hash"]
    assert out["report"][0] == f"config: {config_hash} on 3 hosts"
    assert (
        out["report"][1].startswith("packages: hmac-sha256:") and "on 3 hosts" in out["report"][1]
    )
    assert out["msg"] == "3 hosts agree on config, packages"


def test_one_host_differs_names_host_and_keys() -> None:
    drift = dict(SAME, **{"core.fernet_key": "F2", "celery.worker_concurrency": "8"})
    out = compare(cluster(8, worker_4=fake(drift)))
    assert out["consistent"] is False
    summary = out["report"][0]
    assert summary.startswith("config: 7 hosts agree (hmac-sha256:")
    assert summary.endswith("worker-4 differs on celery.worker_concurrency, core.fernet_key")
    assert (
        "  config core.fernet_key (secret): A = 7 hosts (master-1, master-2, worker-1"
        in (out["report"][2])
    )
    assert out["report"][2].endswith("; B = worker-4")
    assert out["scopes"]["config"]["differing_keys"]["celery.worker_concurrency"]["B"] == [
        "worker-4"
    ]


def test_hosts_differing_the_same_way_are_grouped() -> None:
    low = dict(SAME, **{"core.parallelism": "16"})
    other = dict(SAME, **{"celery.worker_concurrency": "4"})
    out = compare(cluster(8, worker_2=fake(low), worker_3=fake(low), worker_5=fake(other)))
    summary = out["report"][0]
    assert "config: 5 hosts agree" in summary
    assert "worker-2, worker-3 differ on core.parallelism" in summary
    assert "worker-5 differs on celery.worker_concurrency" in summary
    line = next(x for x in out["report"] if "config core.parallelism" in x)
    assert line == (
        "  config core.parallelism: A = 6 hosts (master-1, master-2, worker-1, worker-4, "
        "worker-5, worker-6); B = 2 hosts (worker-2, worker-3)"
    )


def test_key_missing_on_a_host_is_not_set() -> None:
    fewer = {k: v for k, v in SAME.items() if k != "celery.worker_concurrency"}
    out = compare(cluster(4, worker_2=fake(fewer)))
    line = next(x for x in out["report"] if "config celery.worker_concurrency" in x)
    assert line.endswith("; not set = worker-2")


def test_unreadable_host_is_reported_and_not_counted_as_agreeing() -> None:
    failed = {"failed": True, "msg": "permission denied: /etc/airflow/airflow.cfg"}
    out = compare(cluster(4, worker_2=failed))
    assert out["consistent"] is False
    assert out["report"] == [
        f"config: {fake(SAME)['scopes']['config']['hash']} on 3 hosts",
        "worker-2: could not be read (permission denied: /etc/airflow/airflow.cfg)",
    ]
    assert out["unreadable"] == {"worker-2": "permission denied: /etc/airflow/airflow.cfg"}


def test_unreachable_skipped_and_absent_results() -> None:
    results = {
        "m1": fake(SAME),
        "w1": {"unreachable": True, "msg": "Failed to connect to the host via ssh:\n  timeout"},
        "w2": {"skipped": True},
        "w3": None,
    }
    out = compare(results)
    assert out["report"][1:] == [
        "w1: could not be read (unreachable: Failed to connect to the host via ssh: timeout)",
        "w2: could not be read (the hash task was skipped)",
        "w3: could not be read (no result: the host was unreachable or did not run)",
    ]
    assert not out["consistent"]


def test_no_host_read_at_all() -> None:
    out = compare({"m1": None})
    assert out["report"][0] == "no host could be read (1 host in the play)"
    assert out["consistent"] is False


def test_different_digest_keys_are_reported_instead_of_every_key() -> None:
    out = compare({"m1": fake(SAME), "w1": fake(SAME, key="z" * 32), "w2": fake(SAME, key=None)})
    assert len(out["report"]) == 1
    assert out["report"][0].startswith("hosts were hashed with different digest keys")
    assert "w2: sha256 key none" in out["report"][0]


def test_tie_takes_the_group_of_the_first_host_as_reference() -> None:
    other = dict(SAME, **{"core.parallelism": "1"})
    out = compare({"master-1": fake(other), "worker-1": fake(SAME)})
    assert out["report"][0].startswith("config: 1 host agrees")
    assert out["report"][0].endswith("worker-1 differs on core.parallelism")
    assert out["report"][1].endswith("A = master-1; B = worker-1")


def test_long_host_and_key_lists_are_cut() -> None:
    many = dict(SAME, **{f"core.k{i:02}": str(i) for i in range(15)})
    results = {f"w{i:02}": fake(SAME) for i in range(12)}
    results["odd"] = fake(many)
    out = compare(results, max_hosts=3, max_keys=4)
    assert out["report"][0].endswith(
        "odd differs on core.k00, core.k01, core.k02, core.k03, +11 more"
    )
    assert "A = not set" not in out["report"][1]
    assert out["report"][1].endswith("not set = 12 hosts (w00, w01, w02, +9 more)")
    assert out["report"][-1] == "  config: 11 more differing keys not listed"


def test_scope_collected_on_some_hosts_only() -> None:
    out = compare({"m1": fake(SAME, dags={"a.py": "1"}), "w1": fake(SAME)})
    line = next(x for x in out["report"] if x.startswith("dags:"))
    assert line.endswith("w1 did not hash this scope")
    assert not out["consistent"]


def test_real_results_end_to_end_never_show_values(write) -> None:
    results = {}
    for i, concurrency in enumerate(("16", "16", "16", "12")):
        path = write(f"h{i}/airflow.cfg", SAMPLE_CFG.replace("= 16", f"= {concurrency}"))
        results[f"worker-{i + 1}"] = collect(["config"], path, None, digest_key=KEY)
    out = compare(results)
    assert out["report"][0].endswith("worker-4 differs on celery.worker_concurrency")
    text = json.dumps(out)
    assert "s3cret" not in text and "7fQf0fX1L0w2yE4h6JkQ9mN3pR5tV8xZ1aB4cD6eF0g=" not in text


# --- per unit ------------------------------------------------------------------------------------


HOST_WIDE = {"core.parallelism": "32", "celery.broker_url": "redis"}


def per_unit(
    units: dict[str, dict[str, str]], config: dict[str, str] | None = None, **states: dict
) -> dict:
    """A result hashed per unit, as the module returns it: the host-wide ``config`` scope
    (``config``, else HOST_WIDE) and unit -> its config items; ``states`` override unit states.
    """
    result = fake(
        HOST_WIDE if config is None else config,
        **{f"config:{unit}": items for unit, items in units.items()},
    )
    result["units"] = {
        unit: {
            "active_state": "active",
            "stale": False,
            "stale_reasons": [],
            "scope": f"config:{unit}",
            "error": None,
        }
        for unit in units
    }
    for unit, state in states.items():
        result["units"].setdefault(unit, {"scope": None}).update(state)
    return result


SCHED = "airflow-scheduler.service"
WORKER = "airflow-celery-worker.service"


def test_order_and_labels_of_unit_scopes() -> None:
    assert order_scopes(["dags", f"config:{WORKER}", "packages", f"config:{SCHED}", "x"]) == [
        f"config:{WORKER}",
        f"config:{SCHED}",
        "packages",
        "dags",
        "x",
    ]
    assert order_scopes(["packages", "config"]) == ["config", "packages"]
    assert scope_label(f"config:{SCHED}") == f"config {SCHED}"
    assert scope_label("packages") == "packages"


def test_unit_scopes_compare_among_the_hosts_that_have_the_unit() -> None:
    master = per_unit({SCHED: dict(SAME, **{"database.sql_alchemy_conn": "pg"})})
    worker = per_unit({WORKER: {"core.parallelism": "32"}})
    odd = per_unit({WORKER: {"core.parallelism": "8"}})
    results = {"m1": master, "m2": master, "w1": odd, "w2": worker, "w3": worker}
    out = compare(results, max_hosts=3)
    worker_hash = short_hash(worker["scopes"][f"config:{WORKER}"]["hash"])
    assert out["report"] == [
        f"config: {master['scopes']['config']['hash']} on 5 hosts",
        f"config {WORKER}: 2 hosts agree ({worker_hash}); w1 differs on core.parallelism",
        f"  config {WORKER} core.parallelism: A = 2 hosts (w2, w3); B = w1",
        f"config {SCHED}: {master['scopes'][f'config:{SCHED}']['hash']} on 2 hosts",
    ]
    assert out["scopes"][f"config:{WORKER}"]["missing"] == []
    assert_no_values(out)


def test_stale_reasons_and_unreadable_units_are_reported_after_the_scopes() -> None:
    ok = per_unit({WORKER: {"core.parallelism": "32"}})
    stale = per_unit(
        {WORKER: {"core.parallelism": "32"}},
        **{WORKER: {"stale": True, "stale_reasons": ["a reason", "another"]}},
    )
    broken = per_unit(
        {WORKER: {"core.parallelism": "32"}},
        **{"airflow-flower.service": {"error": "/etc/airflow/flower.env: permission denied"}},
    )
    out = compare({"w1": ok, "w2": stale, "w3": broken})
    assert out["consistent"] is False
    assert out["report"][2:] == [
        f"w2: {WORKER} runs with stale settings (a reason; another)",
        "w3: could not be read (airflow-flower.service: /etc/airflow/flower.env: "
        "permission denied)",
    ]
    assert out["unreadable"] == {}


def test_host_wide_config_compares_across_hosts_and_unit_scopes_among_their_hosts() -> None:
    # A master and a worker: one unit each, so each unit scope is on one host only (fine).
    master = per_unit({SCHED: {"core.parallelism": "32", "database.sql_alchemy_conn": "pg"}})
    worker = per_unit(
        {WORKER: {"core.parallelism": "8"}}, config=dict(HOST_WIDE, **{"core.parallelism": "8"})
    )
    out = compare({"m1": master, "w1": worker})
    assert out["consistent"] is False
    reference = short_hash(master["scopes"]["config"]["hash"])
    assert out["report"] == [
        f"config: 1 host agrees ({reference}); w1 differs on core.parallelism",
        "  config core.parallelism: A = m1; B = w1",
        f"config {WORKER}: {worker['scopes'][f'config:{WORKER}']['hash']} on 1 host",
        f"config {SCHED}: {master['scopes'][f'config:{SCHED}']['hash']} on 1 host",
    ]
    assert out["scopes"]["config"]["differing_keys"] == {
        "core.parallelism": {"A": ["m1"], "B": ["w1"]}
    }
    assert out["scopes"][f"config:{WORKER}"]["hosts"] == 1
    assert out["scopes"][f"config:{WORKER}"]["missing"] == []
    assert out["scopes"][f"config:{SCHED}"]["missing"] == []
    assert out["unreadable"] == {} and out["unreadable_units"] == {} and out["stale"] == {}
    assert_no_values(out)


def test_unit_scopes_on_one_host_each_agree_when_the_host_wide_config_does() -> None:
    master = per_unit({SCHED: {"core.parallelism": "32", "database.sql_alchemy_conn": "pg"}})
    worker = per_unit({WORKER: {"core.parallelism": "32"}})
    out = compare({"m1": master, "w1": worker})
    assert out["consistent"] is True, out["report"]
    assert out["report"][0] == f"config: {master['scopes']['config']['hash']} on 2 hosts"
    assert out["msg"] == f"2 hosts agree on config, config {WORKER}, config {SCHED}"


def test_a_per_unit_host_without_the_host_wide_scope_is_named() -> None:
    old = per_unit({WORKER: {"core.parallelism": "32"}})
    del old["scopes"]["config"]
    out = compare({"w1": per_unit({WORKER: {"core.parallelism": "32"}}), "w2": old})
    assert out["consistent"] is False
    assert out["report"][0].endswith("; w2 did not hash this scope")
    assert out["scopes"]["config"]["missing"] == ["w2"]


def assert_no_values(out: dict) -> None:
    text = json.dumps(out)
    assert '"32"' not in text and '"pg"' not in text
